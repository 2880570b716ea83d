/**
 * Assembles one node from its configuration: store (+ encryption), bus, room registry,
 * chat service, gateway; serves it on the given platform; and on scope close shuts down
 * in order: refuse new work, stop accepting, let actors finish what they hold, close
 * sockets with 1001, close the store.
 */
import { Effect, Metric, Option, Redacted, Runtime, Schedule, type Scope } from "effect"
import type { FileSystem, Path } from "@effect/platform"
import * as Registry from "../actors/RoomRegistry.ts"
import type { ChatStore } from "../storage/ChatStore.ts"
import { withEncryption } from "../storage/encrypted.ts"
import { withMetrics } from "../storage/instrumented.ts"
import { makeConfiguredStore } from "../storage/select.ts"
import * as AuthModule from "./auth/Auth.ts"
import { makeInProcess, type RoomBus } from "./bus/RoomBus.ts"
import { makeClusterNode } from "./cluster/ClusterNode.ts"
import { serveIngress } from "./cluster/Ingress.ts"
import type { ChatError } from "./domain/errors.ts"
import type { ChatEvent, Role, RoomId, RoomKind, UserId } from "./domain/model.ts"
import { makePushIntents } from "./cluster/PushIntents.ts"
import { startPush } from "./push/node.ts"
import * as RedisClient from "./redis/RedisClient.ts"
import * as RedisMembershipCache from "./redis/RedisMembershipCache.ts"
import * as RedisPresence from "./redis/RedisPresence.ts"
import * as RedisRateLimiter from "./redis/RedisRateLimiter.ts"
import { makeLocal as makeLocalPresence, type Presence } from "./chat/Presence.ts"
import { eventFrame } from "./http/ws/serverFrames.ts"
import * as Chat from "./chat/Chat.ts"
import { makeLocal } from "./chat/RateLimiter.ts"
import type { ChatConfig } from "./config/ChatConfig.ts"
import type { ResolvedSecrets } from "./config/secrets.ts"
import * as KeyRing from "./crypto/KeyRing.ts"
import { makeApp, type Readiness } from "./http/app.ts"
import { makeRouter, mountOnApp, serveGrpcNode } from "./connect/serve.ts"
import { mountDocs } from "./openapi/serve.ts"
import { registerServices, type ConnectDeps } from "./connect/services.ts"
import type { ConnectRouter } from "@connectrpc/connect"
import { mountServerRest, registerServerService } from "./serverApi/serverApi.ts"
import type { MessageStream } from "./connect/stream.ts"
import { Unavailable } from "./domain/errors.ts"
import { loadWebAssets } from "./http/web.ts"
import { signToken } from "./auth/signToken.ts"
import { makeHub } from "./http/ws/Hub.ts"
import type { Session } from "./http/ws/Session.ts"
import { codeOf, CloseCode } from "./protocol/errorMap.ts"
import * as M from "./metrics/metrics.ts"
import * as Breaker from "./resilience/Breaker.ts"
import { describeCause } from "./resilience/Breaker.ts"
import { withBreaker } from "./resilience/guardStore.ts"
import { makeLoopDelayProbe } from "./metrics/loopDelay.ts"
import type { DualStore } from "../storage/dual/DualStore.ts"
import { renderPrometheus } from "./metrics/prometheus.ts"
import type { Platform } from "./platform/types.ts"
import { addressOf, step, storeStep } from "./startup/StartupError.ts"
import { withDualCheck } from "./http/dualReadiness.ts"

const TITLES: Record<string, string> = { postgres: "PostgreSQL", scylla: "ScyllaDB", pglite: "PGlite", memory: "memory store" }

export interface NodeHooks {
  /** Wrap the store below encryption (tests inject faults here). */
  readonly wrapStore?: (store: ChatStore) => ChatStore
}

export interface RunningNode {
  readonly port: number
  /** The gRPC (HTTP/2) port, when CHAT_GRPC_PORT is set. */
  readonly grpcPort?: number
  readonly store: ChatStore
  readonly sessions: ReadonlySet<Session>
}

export const startNode = (
  config: ChatConfig,
  secrets: ResolvedSecrets,
  platform: Platform,
  hooks: NodeHooks = {}
): Effect.Effect<RunningNode, unknown, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const raw = yield* makeConfiguredStore(config).pipe(storeStep(config))
    const ring = yield* KeyRing.make({
      current: Redacted.value(secrets.masterKey),
      old: secrets.oldMasterKeys.map(Redacted.value)
    })
    const hooked = hooks.wrapStore ? hooks.wrapStore(raw) : raw
    // Dual mode times each side inside (storage/select.ts): the metrics name postgres or scylla.
    // The database that commits messages: in dual mode PostgreSQL, the primary.
    const commitDatabase = raw.name === "dual" ? "postgres" : raw.name
    // Its circuit breaker: open after repeated failures, commands refused at once while open,
    // closed by the first probe (ping) that answers (src/resilience/Breaker.ts).
    const storeBreaker = yield* Breaker.make({
      dependency: commitDatabase,
      title: TITLES[commitDatabase] ?? commitDatabase,
      probe: hooked.ping
    })
    const store = withEncryption(withBreaker(raw.name === "dual" ? hooked : withMetrics(hooked), storeBreaker), ring)
    const auth = yield* AuthModule.make({
      ...(Option.isSome(secrets.jwtSecret) ? { secret: secrets.jwtSecret.value } : {}),
      ...(Option.isSome(config.jwksUrl) ? { jwksUrl: config.jwksUrl.value } : {}),
      ...(Option.isSome(config.jwtPublicKey) ? { publicKeyPem: config.jwtPublicKey.value } : {}),
      algorithms: config.jwtAlgorithms,
      ...(Option.isSome(config.jwtIssuer) ? { issuer: config.jwtIssuer.value } : {}),
      ...(Option.isSome(config.jwtAudience) ? { audience: config.jwtAudience.value } : {})
    })
    // Redis (optional): presence, rate limits and the membership cache shared by all
    // nodes. Each degrades to this node's own view when Redis is down; none stops messages.
    const redis = Option.isSome(config.redisUrl)
      ? yield* RedisClient.make(config.redisUrl.value, { name: config.nodeId }).pipe(
          step("Redis (CHAT_REDIS_URL)", addressOf(config.redisUrl.value))
        )
      : undefined
    const presence: Presence = redis ? yield* RedisPresence.make(redis, { nodeId: config.nodeId }) : makeLocalPresence()
    const redisLimiter = redis
      ? yield* RedisRateLimiter.make(redis, { ratePerSec: config.sendRate, burst: config.sendBurst })
      : undefined
    const membershipCache = redis ? yield* RedisMembershipCache.make(redis) : undefined
    // Set once the cluster is up (clustered mode only: intents go to a JetStream stream).
    let pushIntents: ReturnType<typeof makePushIntents> | undefined
    // chat_messages_sent_total{room_type, database}: the tagged counters made once, not per batch.
    const sentCounters = new Map<RoomKind, Metric.Metric.Counter<number>>()
    const sentCounter = (kind: RoomKind) => {
      let counter = sentCounters.get(kind)
      if (counter === undefined) {
        counter = Metric.tagged(Metric.tagged(M.messagesSent, "room_type", kind), "database", commitDatabase)
        sentCounters.set(kind, counter)
      }
      return counter
    }
    const actorDeps = (bus: RoomBus) => ({
      store,
      maxBatch: config.maxBatch,
      idleMs: config.actorIdleMs,
      admit: storeBreaker.reject,
      onCommitted: (room: RoomId, kind: RoomKind, events: ReadonlyArray<ChatEvent>, members: ReadonlyMap<UserId, Role>) =>
        Effect.gen(function* () {
          if (pushIntents) yield* pushIntents(room, events, members)
          if (membershipCache && events.some((e) => e.kind === "member.joined" || e.kind === "member.left")) {
            yield* membershipCache.invalidate(room)
          }
          let sent = 0
          for (const event of events) {
            if (event.kind === "message.created") sent++
            // Serialised once here; every gateway and socket reuses the string.
            yield* bus.publish(room, { _tag: "Event", event, frame: eventFrame(event) })
          }
          if (sent > 0) sentCounter(kind).unsafeUpdate(sent, [])
        })
    })
    const registryOptions = {
      mailboxCapacity: config.mailboxCapacity,
      commandTimeoutMs: config.commandTimeoutMs,
      restartBaseMs: 50,
      restartMaxMs: 5_000,
      onRestart: () => M.roomActorRestarted
    }
    const natsBreaker = Option.isSome(config.natsUrl) ? yield* Breaker.make({ dependency: "nats", title: "NATS" }) : undefined
    const cluster = Option.isSome(config.natsUrl)
      ? yield* makeClusterNode(store, actorDeps, registryOptions, {
          natsUrl: config.natsUrl.value,
          nodeId: config.nodeId,
          shardCount: config.shards,
          leaseMs: config.leaseMs,
          replicas: config.natsReplicas,
          commandTimeoutMs: config.commandTimeoutMs,
          natsPrefix: config.natsPrefix,
          ...(natsBreaker ? { breaker: natsBreaker } : {})
        }).pipe(step("NATS (CHAT_NATS_URL)", addressOf(config.natsUrl.value)))
      : undefined
    const bus: RoomBus = cluster?.bus ?? makeInProcess()
    if (cluster) pushIntents = makePushIntents(cluster.nats.js, presence, cluster.nats.subjects)
    const registry = cluster?.registry ?? (yield* Registry.make(actorDeps(bus), registryOptions))
    const limiter = redisLimiter ?? makeLocal({ ratePerSec: config.sendRate, burst: config.sendBurst })
    const chat = Chat.make(
      store,
      registry,
      bus,
      limiter,
      { maxBodyBytes: config.maxBodyBytes, maxGroupMembers: 10_000, typingIntervalMs: config.typingIntervalMs },
      presence,
      membershipCache
    )
    // Push delivery (docs/push.md): the queue is the store's; with CHAT_PUSH_WORKER=node this
    // node also runs a worker on it. Web Push's public key is served either way.
    const push = yield* startPush(config, store, presence, platform)
    const hub = makeHub(bus)
    const sessions = new Set<Session>()
    let draining = false
    const runtime = yield* Effect.runtime<never>()
    const runSync = Runtime.runSync(runtime)

    // Reasons in words: the dependency, and the driver's error or the open circuit's cause.
    const check = (name: string, probe: Effect.Effect<unknown, unknown>, breaker?: Breaker.Breaker) =>
      probe.pipe(
        Effect.timeout("2 seconds"),
        Effect.match({
          onFailure: (e) =>
            [
              name,
              breaker && breaker.state() !== "closed"
                ? `failing: ${breaker.title} circuit ${breaker.state()} (${breaker.cause() ?? describeCause(e)})`
                : `failing: ${(e as { _tag?: string })._tag === "TimeoutException" ? "no answer within 2 s" : describeCause(e)}`
            ] as const,
          onSuccess: () => [name, "ok"] as const
        })
      )
    const readiness: Effect.Effect<Readiness> = Effect.map(
      Effect.all(
        [
          check(`store:${store.name}`, store.ping, storeBreaker),
          ...(cluster ? [check("nats", Effect.tryPromise(() => cluster.nats.nc.rtt()), natsBreaker)] : [])
        ],
        { concurrency: "unbounded" }
      ),
      (checks): Readiness => ({ ok: checks.every(([, v]) => v === "ok"), checks: Object.fromEntries(checks) })
    ).pipe(
      // Redis is reported but does not make the node unready: without it the node keeps
      // serving with local rate limits and a node-local (stale) view of presence.
      Effect.flatMap((r) =>
        redis
          ? Effect.map(
              Effect.all([Effect.either(redis.ping.pipe(Effect.timeout("1 second"))), presence.status]),
              ([ping, seen]): Readiness => ({
                ...r,
                checks: {
                  ...r.checks,
                  redis:
                    ping._tag === "Left"
                      ? "degraded: unreachable; local rate limits, presence stale"
                      : seen === "ok"
                        ? "ok"
                        : "degraded: presence resyncing"
                }
              })
            )
          : Effect.succeed(r)
      ),
      Effect.flatMap((r) => withDualCheck(r, raw, config.dualRead)),
      Effect.flatMap((r) =>
        cluster
          ? Effect.map(cluster.membership.live, (live) => ({
              ...r,
              details: {
                cluster: {
                  node: config.nodeId,
                  live,
                  shards: config.shards,
                  shardsHeld: cluster.shards.heldCount(),
                  handovers: cluster.shards.handovers().slice(-20)
                }
              }
            }))
          : Effect.succeed(r)
      )
    )
    if (cluster) yield* serveIngress(cluster.nats.nc, chat, cluster.nats.subjects)

    // Gauges read at scrape time: what the node holds now, not what it did.
    const wsConnections = M.connectionsOf("websocket")
    wsConnections.unsafeUpdate(0, [])
    M.uptime.unsafeUpdate(Math.floor(Date.now() / 1000), [])
    const loopDelay = yield* makeLoopDelayProbe
    const dual = raw.name === "dual" ? (raw as DualStore) : undefined
    const outbox = dual?.outbox
    // chat_dependency_up: every dependency probed every 5 s, each database on its own.
    const probes: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
      ...(dual
        ? ([
            ["postgres", dual.sides.primary.ping],
            ["scylla", dual.sides.secondary.ping]
          ] as const)
        : ([[store.name, store.ping]] as const)),
      ...(cluster ? ([["nats", Effect.tryPromise(() => cluster.nats.nc.rtt())]] as const) : []),
      ...(redis ? ([["redis", redis.ping]] as const) : [])
    ]
    yield* Effect.forEach(
      probes,
      ([name, probe]) => {
        const up = Metric.tagged(M.dependencyUp, "dependency", name)
        return probe.pipe(
          Effect.timeout("2 seconds"),
          Effect.match({ onFailure: () => up.unsafeUpdate(0, []), onSuccess: () => up.unsafeUpdate(1, []) })
        )
      },
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.forkScoped)
    // chat_http_requests_total / _duration: the tagged series made once per label set.
    const httpSeries = new Map<string, { count: Metric.Metric.Counter<number>; time: Metric.Metric.Histogram<number> }>()
    const onHttpRequest = (route: string, method: string, status: number, seconds: number) => {
      const key = `${route} ${method} ${status}`
      let series = httpSeries.get(key)
      if (series === undefined) {
        series = {
          count: M.httpRequests.pipe(
            Metric.tagged("route", route),
            Metric.tagged("method", method),
            Metric.tagged("status", String(status))
          ),
          time: Metric.tagged(M.httpDuration, "route", route)
        }
        httpSeries.set(key, series)
      }
      series.count.unsafeUpdate(1, [])
      series.time.unsafeUpdate(seconds, [])
    }
    const sampleGauges: Effect.Effect<void> = Effect.gen(function* () {
      M.roomActorsActive.unsafeUpdate(yield* registry.activeRooms, [])
      const stats = platform.runtimeStats()
      M.heapUsed.unsafeUpdate(stats.heapUsedBytes, [])
      M.residentMemory.unsafeUpdate(stats.residentBytes, [])
      const gcBefore = (yield* Metric.value(M.gcPause)).count
      if (stats.gcPauseSeconds > gcBefore) M.gcPause.unsafeUpdate(stats.gcPauseSeconds - gcBefore, [])
      M.eventLoopDelay.unsafeUpdate(loopDelay.takeMaxSeconds(), [])
      if (cluster) {
        M.shardsHeld.unsafeUpdate(cluster.shards.heldCount(), [])
        M.shardsTotal.unsafeUpdate(config.shards, [])
        M.liveNodes.unsafeUpdate((yield* cluster.membership.live).length, [])
      }
      if (outbox) {
        const o = yield* Effect.either(outbox.stats.pipe(Effect.timeout("1 second")))
        if (o._tag === "Right") {
          M.outboxEntries.unsafeUpdate(o.right.entries, [])
          M.outboxOldestAge.unsafeUpdate(o.right.oldestAgeSeconds, [])
        }
      }
    })
    // Dev sign-in: only an embedded node whose HS256 secret was generated into the data dir
    // (no CHAT_JWT_SECRET, no JWKS or public key) mints tokens for a typed name. A configured
    // secret means real users and an identity provider: never then.
    const devSecret =
      Option.isNone(config.jwtSecret) && Option.isNone(config.natsUrl) && Option.isNone(config.jwksUrl) && Option.isNone(config.jwtPublicKey)
        ? secrets.jwtSecret
        : Option.none()
    const devToken = Option.map(devSecret, (secret) => (user: string) =>
      Runtime.runPromise(runtime)(
        signToken(secret, user, {
          expiresIn: "12h",
          ...(Option.isSome(config.jwtIssuer) ? { issuer: config.jwtIssuer.value } : {}),
          ...(Option.isSome(config.jwtAudience) ? { audience: config.jwtAudience.value } : {})
        })
      )
    )
    const webAssets = yield* loadWebAssets

    const app = makeApp({
      chat,
      store,
      hub,
      verify: auth.verify,
      runtime,
      limits: {
        replayCap: config.replayCap,
        maxSubscriptions: config.maxSubscriptions,
        maxFrameBytes: config.maxFrameBytes,
        maxBufferedBytes: config.wsMaxBufferedBytes,
        inboxCapacity: 256,
        maxRestBodyBytes: config.maxBodyBytes * 2 + 4096,
        maxSocketsPerUser: config.maxSocketsPerUser
      },
      readiness,
      vapidPublicKey: push.vapidPublicKey,
      metrics: Effect.zipRight(sampleGauges, renderPrometheus),
      upgradeWebSocket: platform.upgradeWebSocket,
      linkOf: platform.linkOf,
      sessions,
      // Updated in place (unsafeUpdate), not through an Effect run: onFrame is called for every
      // frame, and a runSync starts a fiber each time.
      onConnectionsChanged: (n) => wsConnections.unsafeUpdate(n, []),
      onSlowConsumer: () => runSync(M.slowConsumerDropped),
      onError: (e) => runSync(Effect.zipRight(M.errorReturned(codeOf(e)), e._tag === "RateLimited" ? M.rateLimitedHit : Effect.void)),
      onFrame: () => M.wsMessagesIn.unsafeUpdate(1, []),
      isDraining: () => draining,
      onHttpRequest,
      web: { assets: webAssets, devToken },
      corsOrigins: config.corsOrigins
    })

    // Connect/gRPC: the same chat service, hub and auth as the gateway above.
    const onError = (e: ChatError) =>
      runSync(Effect.zipRight(M.errorReturned(codeOf(e)), e._tag === "RateLimited" ? M.rateLimitedHit : Effect.void))
    const streams = new Set<MessageStream>()
    const connectDeps: ConnectDeps = {
      chat,
      store,
      hub,
      verify: auth.verify,
      runtime,
      limits: { replayCap: config.replayCap, maxStreamQueue: config.replayCap + 10_000 },
      onError,
      isDraining: () => draining,
      streams
    }
    const connectOptions = { readMaxBytes: config.maxBodyBytes * 2 + 4096 }
    const serverApi = { chat, keys: config.serviceKeys, runtime, onError }
    const register = (router: ConnectRouter) => {
      registerServices(router, connectDeps)
      registerServerService(router, serverApi)
    }
    mountOnApp(app, makeRouter(register, connectOptions))
    mountServerRest(app, serverApi)
    mountDocs(app, "0.1.0")
    const grpc =
      Option.isSome(config.grpcPort) && platform.name === "node"
        ? yield* serveGrpcNode(register, { ...connectOptions, port: Number(config.grpcPort.value), host: config.host })
        : undefined

    const listening = yield* platform.serve(app, {
      port: config.port,
      host: config.host,
      maxPayloadBytes: config.maxFrameBytes * 4
    }).pipe(step("HTTP listener (CHAT_HOST, CHAT_PORT)", `${config.host}:${config.port}`))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        // New sockets are refused from here on; REST requests still in flight complete.
        draining = true
        yield* Effect.logInfo("shutting down: draining room actors and sockets")
        // Clustered: leave and hand every shard over first, so other nodes take the rooms
        // while this one finishes; clients that reconnect elsewhere find them served.
        if (cluster) yield* cluster.handOver
        yield* registry.drain
        for (const s of sessions) s.close(CloseCode.goingAway, "server shutting down; reconnect and resume with since")
        for (const s of streams) s.end(new Unavailable({ message: "server shutting down; call again with since" }))
        // Finalizers are uninterruptible; the wait for open HTTP connections is bounded explicitly.
        yield* Effect.interruptible(listening.stopAccepting).pipe(Effect.timeoutOption(config.shutdownGraceMs))
        yield* Effect.logInfo("shutdown complete")
      })
    )

    yield* Effect.logInfo("chat node listening").pipe(
      Effect.annotateLogs({ port: listening.port, ...(grpc ? { grpcPort: grpc.port } : {}), store: store.name, node: config.nodeId, runtime: platform.name })
    )
    if (Option.isNone(config.jwtSecret) && Option.isSome(secrets.jwtSecret)) {
      yield* Effect.logInfo(
        "embedded mode: client tokens are signed with the development secret in the data dir; mint one with `npm run chat -- token alice` (Deno: `npx deno task chat token alice`); the web chat at / signs anyone in by name (POST /v1/dev/token): set CHAT_JWT_SECRET for anything but development"
      )
    }
    return { port: listening.port, ...(grpc ? { grpcPort: grpc.port } : {}), store, sessions }
  })
