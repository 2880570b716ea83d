/**
 * The node's front door for the life of the layer: the Hono app (REST, WebSocket, /readyz,
 * /metrics) served on the platform in context. It is built last, so it is closed first;
 * its finalizer is the shutdown order: refuse new work, hand the shards over (clustered),
 * let the room actors finish what they hold, close sockets with 1001, stop accepting.
 */
import { Context, Effect, Layer, Metric, Option, Runtime } from "effect"
import { RoomRegistryTag } from "../../actors/RoomRegistry.ts"
import { ChatStoreTag } from "../../storage/ChatStore.ts"
import { Auth } from "../auth/Auth.ts"
import { RoomBusTag } from "../bus/RoomBus.ts"
import { ChatTag } from "../chat/Chat.ts"
import { PresenceTag } from "../chat/Presence.ts"
import { MembershipTag } from "../cluster/Membership.ts"
import { ShardManagerTag } from "../cluster/ShardManager.ts"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import * as M from "../metrics/metrics.ts"
import { renderPrometheus } from "../metrics/prometheus.ts"
import { PlatformTag } from "../platform/types.ts"
import { step, type StartupError } from "../startup/StartupError.ts"
import { codeOf, CloseCode } from "../protocol/errorMap.ts"
import { makeApp } from "./app.ts"
import { makeReadiness } from "./readiness.ts"
import { makeHub } from "./ws/Hub.ts"
import type { Session } from "./ws/Session.ts"

export interface Gateway {
  readonly port: number
  /** Live WebSocket sessions (tests inspect them). */
  readonly sessions: ReadonlySet<Session>
}

export class GatewayTag extends Context.Tag("chat/Gateway")<GatewayTag, Gateway>() {}

/** Per-socket inbox of frames awaiting their turn (frames are handled one at a time). */
const INBOX_CAPACITY = 256

export const layer: Layer.Layer<
  GatewayTag,
  StartupError,
  ChatConfigTag | ChatTag | ChatStoreTag | RoomBusTag | RoomRegistryTag | PresenceTag | Auth | PlatformTag
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

    const app = makeApp({
      chat,
      hub,
      verify: auth.verify,
      runtime,
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
      metrics: Effect.zipRight(
        Effect.flatMap(registry.activeRooms, (n) => Metric.set(M.roomActorsActive, n)),
        renderPrometheus
      ),
      upgradeWebSocket: platform.upgradeWebSocket,
      linkOf: platform.linkOf,
      sessions,
      // Updated in place (unsafeUpdate), not through an Effect run: onFrame is called for every
      // frame, and a runSync starts a fiber each time.
      onConnectionsChanged: (n) => M.wsConnections.unsafeUpdate(n, []),
      onSlowConsumer: () => runSync(M.slowConsumerDropped),
      onError: (e) => runSync(Effect.zipRight(M.errorReturned(codeOf(e)), e._tag === "RateLimited" ? M.rateLimitedHit : Effect.void)),
      onFrame: () => M.wsMessagesIn.unsafeUpdate(1, []),
      isDraining: () => draining,
      corsOrigins: config.corsOrigins
    })

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
        // Finalizers are uninterruptible; the wait for open HTTP connections is bounded explicitly.
        yield* Effect.interruptible(listening.stopAccepting).pipe(Effect.timeoutOption(config.shutdownGraceMs))
        yield* Effect.logInfo("shutdown complete")
      })
    )

    yield* Effect.logInfo("chat node listening").pipe(
      Effect.annotateLogs({ port: listening.port, store: store.name, node: config.nodeId, runtime: platform.name })
    )
    return { port: listening.port, sessions }
  })
)
