/**
 * The node's front door for the life of the layer: the Hono app (REST, WebSocket, /readyz,
 * /metrics) served on the platform in context. It is built last, so it is closed first;
 * its finalizer is the shutdown order: refuse new work, hand the shards over (clustered),
 * let the room actors finish what they hold, close sockets with 1001, stop accepting.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Context, Effect, FiberSet, Layer, Metric, Option, Runtime, Schedule } from "effect"
import { RoomRegistryTag } from "../../actors/RoomRegistry.ts"
import type { ConnectRouter } from "@connectrpc/connect"
import { Unavailable, type ChatError } from "../../core/errors.ts"
import { ChatStoreTag } from "../../storage/ChatStore.ts"
import type { DualStore } from "../../storage/dual/DualStore.ts"
import { Auth } from "../auth/Auth.ts"
import { signToken } from "../auth/signToken.ts"
import { RoomBusTag } from "../bus/RoomBus.ts"
import { ChatTag } from "../chat/Chat.ts"
import { PresenceTag } from "../chat/Presence.ts"
import { MembershipTag } from "../cluster/Membership.ts"
import { Nats } from "../cluster/Nats.ts"
import { ShardLeasesTag } from "../cluster/ShardLeases.ts"
import { ShardManagerTag } from "../cluster/ShardManager.ts"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import { makeLoopDelayProbe } from "../metrics/loopDelay.ts"
import * as M from "../metrics/metrics.ts"
import { renderPrometheus } from "../metrics/prometheus.ts"
import { PlatformTag } from "../platform/types.ts"
import { PushTag } from "../push/node.ts"
import { RedisClientTag } from "../redis/RedisClient.ts"
import { ConfiguredStore } from "../store/select.ts"
import { step, type StartupError } from "../startup/StartupError.ts"
import { codeOf, CloseCode } from "../protocol/errorMap.ts"
import { makeApp } from "./app.ts"
import { makeRouter, mountOnApp, serveGrpcNode } from "../connect/serve.ts"
import { registerServices, type ConnectDeps } from "../connect/services.ts"
import type { MessageStream } from "../connect/stream.ts"
import { mountDocs } from "../openapi/serve.ts"
import { mountServerRest, registerServerService } from "../serverApi/serverApi.ts"
import { makeReadiness } from "./readiness.ts"
import { loadWebAssets } from "./web.ts"
import { makeHub } from "./ws/Hub.ts"
import type { Session } from "./ws/Session.ts"

export interface Gateway {
  readonly port: number
  /** The gRPC (HTTP/2) port, when CHAT_GRPC_PORT is set. */
  readonly grpcPort?: number
  /** Live WebSocket sessions (tests inspect them). */
  readonly sessions: ReadonlySet<Session>
}

export class GatewayTag extends Context.Tag("chat/Gateway")<GatewayTag, Gateway>() {}

/** Per-socket inbox of frames awaiting their turn (frames are handled one at a time). */
const INBOX_CAPACITY = 256

export const layer: Layer.Layer<
  GatewayTag,
  StartupError,
  | ChatConfigTag
  | ChatTag
  | ChatStoreTag
  | RoomBusTag
  | RoomRegistryTag
  | PresenceTag
  | Auth
  | PlatformTag
  | PushTag
  | Secrets
  | FileSystem.FileSystem
  | Path.Path
> = Layer.scoped(
  GatewayTag,
  Effect.gen(function* () {
    const config = yield* ChatConfigTag
    const chat = yield* ChatTag
    const store = yield* ChatStoreTag
    const registry = yield* RoomRegistryTag
    const auth = yield* Auth
    const platform = yield* PlatformTag
    const membership = yield* Effect.serviceOption(MembershipTag)
    const shards = yield* Effect.serviceOption(ShardManagerTag)
    const hub = makeHub(yield* RoomBusTag)
    const readiness = yield* makeReadiness
    const sessions = new Set<Session>()
    let draining = false
    const runtime = yield* Effect.runtime<never>()
    const runSync = Runtime.runSync(runtime)
    // Every fiber the sessions and streams start lives here: interrupted when the gateway's
    // scope closes, so none outlives the node.
    const fork = yield* FiberSet.makeRuntime<never>()
    const push = yield* PushTag
    const secrets = yield* Secrets
    const leases = yield* Effect.serviceOption(ShardLeasesTag)
    const nats = yield* Effect.serviceOption(Nats)
    const redis = yield* Effect.serviceOption(RedisClientTag)
    const configured = yield* Effect.serviceOption(ConfiguredStore)

    // Gauges read at scrape time: what the node holds now, not what it did.
    const wsConnections = M.labelled(M.activeConnections, { client_type: "websocket" })
    wsConnections(0)
    M.uptime.unsafeUpdate(Math.floor(Date.now() / 1000), [])
    const loopDelay = yield* makeLoopDelayProbe
    const dual = Option.isSome(configured) && configured.value.name === "dual" ? (configured.value as DualStore) : undefined
    const outbox = dual?.outbox
    // chat_dependency_up: every dependency probed every 5 s, each database on its own.
    const probes: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
      ...(dual
        ? ([
            ["postgres", dual.sides.primary.ping],
            ["scylla", dual.sides.secondary.ping]
          ] as const)
        : ([[store.name, store.ping]] as const)),
      ...(Option.isSome(nats) ? ([["nats", Effect.tryPromise(() => nats.value.nc.rtt())]] as const) : []),
      ...(Option.isSome(redis) ? ([["redis", redis.value.ping]] as const) : [])
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
    // (M.labelled: one labels array per series, so an update finds its series without
    // building a metric key per request.)
    const httpSeries = new Map<string, { count: (n: number) => void; time: (seconds: number) => void }>()
    const onHttpRequest = (route: string, method: string, status: number, seconds: number) => {
      const key = `${route} ${method} ${status}`
      let series = httpSeries.get(key)
      if (series === undefined) {
        series = {
          count: M.labelled(M.httpRequests, { route, method, status: String(status) }),
          time: M.labelled(M.httpDuration, { route })
        }
        httpSeries.set(key, series)
      }
      series.count(1)
      series.time(seconds)
    }
    const sampleGauges: Effect.Effect<void> = Effect.gen(function* () {
      M.roomActorsActive.unsafeUpdate(yield* registry.activeRooms, [])
      const stats = platform.runtimeStats()
      M.heapUsed.unsafeUpdate(stats.heapUsedBytes, [])
      M.residentMemory.unsafeUpdate(stats.residentBytes, [])
      const gcBefore = (yield* Metric.value(M.gcPause)).count
      if (stats.gcPauseSeconds > gcBefore) M.gcPause.unsafeUpdate(stats.gcPauseSeconds - gcBefore, [])
      M.eventLoopDelay.unsafeUpdate(loopDelay.takeMaxSeconds(), [])
      if (Option.isSome(leases) && Option.isSome(membership)) {
        M.shardsHeld.unsafeUpdate(leases.value.heldCount(), [])
        M.shardsTotal.unsafeUpdate(config.shards, [])
        M.liveNodes.unsafeUpdate((yield* membership.value.live).length, [])
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
      hub,
      verify: auth.verify,
      ...(auth.verifyNow !== undefined ? { verifyNow: auth.verifyNow } : {}),
      runtime,
      fork,
      limits: {
        replayCap: config.replayCap,
        maxSubscriptions: config.maxSubscriptions,
        maxFrameBytes: config.maxFrameBytes,
        maxBufferedBytes: config.wsMaxBufferedBytes,
        inboxCapacity: INBOX_CAPACITY,
        // A REST body carries at most one message body, JSON-escaped (up to twice as long), plus fields.
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
      onConnectionsChanged: (n) => wsConnections(n),
      onSlowConsumer: () => runSync(M.slowConsumerDropped),
      onError: (e) => M.countError(codeOf(e)),
      onFrame: () => M.wsMessagesIn.unsafeUpdate(1, []),
      isDraining: () => draining,
      onHttpRequest,
      web: { assets: webAssets, devToken },
      corsOrigins: config.corsOrigins
    })

    // Connect/gRPC: the same chat service, hub and auth as the gateway above.
    const onError = (e: ChatError) => M.countError(codeOf(e))
    const streams = new Set<MessageStream>()
    const connectDeps: ConnectDeps = {
      chat,
      store,
      hub,
      verify: auth.verify,
      runtime,
      fork,
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
        ? yield* serveGrpcNode(register, { ...connectOptions, port: Number(config.grpcPort.value), host: config.host }).pipe(
            step("gRPC listener (CHAT_HOST, CHAT_GRPC_PORT)", `${config.host}:${config.grpcPort.value}`)
          )
        : undefined

    const listening = yield* platform
      .serve(app, { port: config.port, host: config.host, maxPayloadBytes: config.maxFrameBytes * 4 })
      .pipe(step("HTTP listener (CHAT_HOST, CHAT_PORT)", `${config.host}:${config.port}`))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        // New sockets are refused from here on; REST requests still in flight complete.
        draining = true
        yield* Effect.logInfo("shutting down: draining room actors and sockets")
        // Clustered: leave and hand every shard over first, so other nodes take the rooms
        // while this one finishes; clients that reconnect elsewhere find them served.
        if (Option.isSome(membership)) yield* membership.value.leave
        if (Option.isSome(shards)) yield* shards.value.releaseAll
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
    return { port: listening.port, ...(grpc ? { grpcPort: grpc.port } : {}), sessions }
  })
)
