/**
 * One node as a graph of Layers, composed once per mode:
 *
 * - single node (embedded PGlite by default, or one node on PostgreSQL/ScyllaDB/dual):
 *   in-process room bus, the room actors serve every room;
 * - clustered (CHAT_NATS_URL set): NATS room bus, shard leases, router and ingress.
 *
 * Either way with Redis (CHAT_REDIS_URL) for presence, rate limits and the membership
 * cache, or this node's own. The gateway (src/http/Gateway.ts) is built last and closed
 * first; its finalizer is the shutdown order.
 *
 *   ChatConfig, Secrets, Platform
 *     -> store (configured, timed, breaker, encrypted)  src/store/select.ts
 *     -> presence, limiter, membership cache     src/chat/*, src/redis/*
 *     -> room bus                                 src/bus/RoomBus.ts | src/cluster/NatsBus.ts
 *     -> after-commit ports -> room registry      actors/AfterCommit.ts, actors/RoomRegistry.ts
 *     -> [leases, router, shard manager, ingress] src/cluster/*
 *     -> chat service -> push -> gateway          src/chat/Chat.ts, src/push/node.ts, src/http/Gateway.ts
 */
import type { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Layer, Option, type Redacted, type Scope } from "effect"
import * as AfterCommit from "../actors/AfterCommit.ts"
import * as RoomRegistry from "../actors/RoomRegistry.ts"
import type { StoreError } from "../core/errors.ts"
import { ChatStoreTag, type ChatStore } from "../storage/ChatStore.ts"
import { Auth, type AuthSetupError } from "./auth/Auth.ts"
import { layerInProcess, RoomBusTag } from "./bus/RoomBus.ts"
import * as Chat from "./chat/Chat.ts"
import { MembershipCacheTag } from "./chat/MembershipCache.ts"
import * as Presence from "./chat/Presence.ts"
import * as RateLimiter from "./chat/RateLimiter.ts"
import * as Ingress from "./cluster/Ingress.ts"
import * as Membership from "./cluster/Membership.ts"
import * as Nats from "./cluster/Nats.ts"
import * as NatsBus from "./cluster/NatsBus.ts"
import * as PushIntents from "./cluster/PushIntents.ts"
import * as Router from "./cluster/Router.ts"
import * as ShardLeases from "./cluster/ShardLeases.ts"
import * as ShardManager from "./cluster/ShardManager.ts"
import { ChatConfigTag, type ChatConfig } from "./config/ChatConfig.ts"
import { Secrets, type ResolvedSecrets } from "./config/secrets.ts"
import type { InvalidMasterKey } from "./crypto/errors.ts"
import { eventFrame } from "./protocol/serverFrames.ts"
import * as Gateway from "./http/Gateway.ts"
import type { Session } from "./http/ws/Session.ts"
import * as M from "./metrics/metrics.ts"
import { PlatformTag, type Platform, type ServeError } from "./platform/types.ts"
import * as Push from "./push/node.ts"
import * as Breaker from "./resilience/Breaker.ts"
import * as RedisClient from "./redis/RedisClient.ts"
import * as RedisMembershipCache from "./redis/RedisMembershipCache.ts"
import * as RedisPresence from "./redis/RedisPresence.ts"
import * as RedisRateLimiter from "./redis/RedisRateLimiter.ts"
import * as Store from "./store/select.ts"
import type { PushConfigError } from "./push/configure.ts"
import { prepareDataDir, type DataDirError } from "./startup/dataDir.ts"
import type { DataDirLocked, DataDirLockError, DataDirLocker } from "./startup/DataDirLock.ts"
import { addressOf, step, StartupError as StartupErrorClass, type StartupError } from "./startup/StartupError.ts"
import * as Subjects from "./cluster/subjects.ts"

/** Why a node could not start. */
export type NodeStartError =
  | StartupError
  | StoreError
  | InvalidMasterKey
  | AuthSetupError
  | RedisClient.RedisError
  | Nats.ClusterError
  | ServeError
  | DataDirError
  | DataDirLocked
  | DataDirLockError
  | PushConfigError

/** Restart backoff of a failed room actor: 50 ms doubling to 5 s. */
const RESTART_BASE_MS = 50
const RESTART_MAX_MS = 5_000
/** The most members a group may have. */
const MAX_GROUP_MEMBERS = 10_000

/** Presence, send limits and (with Redis) the shared membership cache. */
const sharedState = (config: ChatConfig) =>
  Option.match(config.redisUrl, {
    // Each degrades to this node's own view when Redis is down; none stops messages.
    onSome: (url) =>
      Layer.mergeAll(
        RedisPresence.layer({ nodeId: config.nodeId }),
        RedisRateLimiter.layer({ ratePerSec: config.sendRate, burst: config.sendBurst }),
        RedisMembershipCache.layer()
      ).pipe(Layer.provideMerge(redisClient(url, config.nodeId))),
    onNone: () =>
      Layer.merge(Presence.layerLocal, RateLimiter.layerLocal({ ratePerSec: config.sendRate, burst: config.sendBurst }))
  })

/**
 * The Redis client behind its breaker: while Redis fails, presence, limits and the cache
 * answer from this node at once instead of each command waiting for its timeout.
 */
const redisClient = (url: Redacted.Redacted<string>, nodeId: string) =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const raw = yield* RedisClient.make(url, { name: nodeId }).pipe(step("Redis (CHAT_REDIS_URL)", addressOf(url)))
      const breaker = yield* Breaker.make({ dependency: "redis", title: "Redis", probe: raw.ping, probeEveryMs: 500 })
      return Context.make(RedisClient.RedisClientTag, RedisClient.guarded(raw, breaker)).pipe(Context.add(Breaker.RedisBreaker, breaker))
    })
  )

/**
 * The edges of what happens after a commit: the room bus (each event serialised once
 * here; every gateway and socket reuses the string), push intents and the shared
 * membership cache when the node has them, the sent counter.
 */
const afterCommit = Layer.effect(
  AfterCommit.AfterCommitTag,
  Effect.gen(function* () {
    const bus = yield* RoomBusTag
    const store = yield* ChatStoreTag
    const push = yield* Effect.serviceOption(PushIntents.PushIntentsTag)
    const cache = yield* Effect.serviceOption(MembershipCacheTag)
    return AfterCommit.make({
      publish: (room, event) => bus.publish(room, { _tag: "Event", event, frame: eventFrame(event) }),
      ...(Option.isSome(push) ? { pushIntents: push.value } : {}),
      ...(Option.isSome(cache) ? { invalidateMembers: cache.value.invalidate } : {}),
      // chat_messages_sent_total{room_type, database}: in dual mode postgres, the primary.
      countSent: M.sentCounter(Store.commitDatabase(store))
    })
  })
)

const registry = (config: ChatConfig) =>
  RoomRegistry.layer({
    maxBatch: config.maxBatch,
    idleMs: config.actorIdleMs,
    mailboxCapacity: config.mailboxCapacity,
    commandTimeoutMs: config.commandTimeoutMs,
    restartBaseMs: RESTART_BASE_MS,
    restartMaxMs: RESTART_MAX_MS,
    onRestart: () => M.roomActorRestarted
  }).pipe(Layer.provide(Layer.merge(afterCommit, admission)))

/** Writes are refused at once while the store's circuit is open (src/resilience/Breaker.ts). */
const admission = Layer.effect(
  RoomRegistry.RoomAdmission,
  Effect.map(Breaker.StoreBreaker, (breaker) => breaker.reject)
)

const chat = (config: ChatConfig) =>
  Chat.layer({ maxBodyBytes: config.maxBodyBytes, maxGroupMembers: MAX_GROUP_MEMBERS, typingIntervalMs: config.typingIntervalMs })

// Push delivery (docs/push.md): the queue is the store's; with CHAT_PUSH_WORKER=node this
// node also runs a worker on it. Web Push's public key is served either way.
const gateway = Gateway.layer.pipe(Layer.provide(Auth.layer), Layer.provideMerge(Push.layer))

/** One node serves every room: embedded (PGlite) or one node on a shared store. */
export const singleNode = (config: ChatConfig) =>
  gateway.pipe(
    Layer.provideMerge(chat(config)),
    Layer.provide(Layer.effect(Chat.Rooms, RoomRegistry.RoomRegistryTag)),
    Layer.provideMerge(registry(config)),
    Layer.provideMerge(layerInProcess),
    Layer.provideMerge(sharedState(config)),
    Layer.provideMerge(Store.layer)
  )

/**
 * Clustered: rooms are sharded over the nodes by NATS leases. The leases come first (the
 * actors' fence and the router's `owns` read them), then the local actors, the router
 * over them, and the manager that acquires, renews and hands leases over.
 */
export const clustered = (config: ChatConfig, natsUrl: Redacted.Redacted<string>) => {
  const routerOptions = { shardCount: config.shards, commandTimeoutMs: config.commandTimeoutMs }
  // Opened while the NATS connection is down: forwarded commands fail fast instead of waiting.
  const natsBreaker = Layer.scoped(Breaker.NatsBreaker, Breaker.make({ dependency: "nats", title: "NATS" }))
  const shardOptions = { nodeId: config.nodeId, shardCount: config.shards, leaseMs: config.leaseMs }
  return gateway.pipe(
    Layer.provideMerge(Ingress.layer),
    Layer.provideMerge(chat(config)),
    Layer.provide(Layer.effect(Chat.Rooms, Router.RouterTag)),
    Layer.provideMerge(ShardManager.layer(shardOptions)),
    Layer.provideMerge(
      Layer.unwrapEffect(
        Effect.map(Breaker.NatsBreaker, (breaker) => Router.layer({ ...routerOptions, natsDown: breaker.reject }))
      )
    ),
    Layer.provideMerge(registry(config)),
    Layer.provide(ShardLeases.fenceLayer),
    Layer.provideMerge(
      Layer.mergeAll(
        NatsBus.layer,
        PushIntents.layer,
        Membership.layer(config.nodeId, config.leaseMs).pipe(
          Layer.mapError((cause) => new StartupErrorClass({ dependency: "NATS (CHAT_NATS_URL)", address: addressOf(natsUrl), cause }))
        )
      )
    ),
    Layer.provideMerge(ShardLeases.layer(config.shards)),
    Layer.provideMerge(sharedState(config)),
    Layer.provideMerge(Store.layer),
    Layer.provideMerge(
      Layer.scoped(
        Nats.Nats,
        Effect.flatMap(Breaker.NatsBreaker, (breaker) =>
          Nats.connectNats({
            url: natsUrl,
            name: config.nodeId,
            leaseMs: config.leaseMs,
            replicas: config.natsReplicas,
            onStatus: (up, detail) => (up ? breaker.close() : breaker.open(detail)),
            subjects: Subjects.make(config.natsPrefix)
          })
        ).pipe(step("NATS (CHAT_NATS_URL)", addressOf(natsUrl)))
      )
    ),
    Layer.provideMerge(natsBreaker)
  )
}

type NodeLayer = Layer.Layer<
  Gateway.GatewayTag | ChatStoreTag,
  NodeStartError,
  ChatConfigTag | Secrets | PlatformTag | FileSystem.FileSystem | Path.Path
>

/** The node for the configuration in context. */
export const layer: NodeLayer = Layer.unwrapEffect(
  Effect.map(ChatConfigTag, (config): NodeLayer => {
    const node = Option.isSome(config.natsUrl) ? clustered(config, config.natsUrl.value) : singleNode(config)
    return node.pipe(Layer.tap(() => announce(config)))
  })
)

/**
 * What the entry points run: before the store opens, the data dir exists (0700) and is
 * this process's alone; then the node, until interrupted.
 */
export const launch: Effect.Effect<
  never,
  NodeStartError,
  ChatConfigTag | Secrets | PlatformTag | DataDirLocker | FileSystem.FileSystem | Path.Path
> = Effect.scoped(
  Effect.gen(function* () {
    yield* prepareDataDir(yield* ChatConfigTag)
    return yield* Layer.launch(layer)
  })
)

const announce = (config: ChatConfig) =>
  Effect.flatMap(Secrets, (secrets) =>
    Option.isNone(config.jwtSecret) && Option.isSome(secrets.jwtSecret)
      ? Effect.logInfo(
          "embedded mode: client tokens are signed with the development secret in the data dir; mint one with `npm run chat -- token alice` (Deno: `npx deno task chat token alice`); the web chat at / signs anyone in by name (POST /v1/dev/token): set CHAT_JWT_SECRET for anything but development"
        )
      : Effect.void
  )

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

/** Builds the node in the caller's scope (tests; the entry points launch `layer`). */
export const startNode = (
  config: ChatConfig,
  secrets: ResolvedSecrets,
  platform: Platform,
  hooks: NodeHooks = {}
): Effect.Effect<RunningNode, NodeStartError, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(layer).pipe(
      Effect.provideService(ChatConfigTag, config),
      Effect.provideService(Secrets, secrets),
      Effect.provideService(PlatformTag, platform),
      Effect.provideService(Store.StoreWrapper, hooks.wrapStore ?? ((store) => store))
    )
    const gateway = yield* Effect.provide(Gateway.GatewayTag, context)
    const store = yield* Effect.provide(ChatStoreTag, context)
    return {
      port: gateway.port,
      ...(gateway.grpcPort !== undefined ? { grpcPort: gateway.grpcPort } : {}),
      store,
      sessions: gateway.sessions
    }
  })
