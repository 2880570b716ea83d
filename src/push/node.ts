/** Push inside a node: resolve the VAPID key pair and, with CHAT_PUSH_WORKER=node, run a worker. */
import type { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Layer, type Scope } from "effect"
import { ChatStoreTag, type ChatStore } from "../../storage/ChatStore.ts"
import { PresenceTag, type Presence } from "../chat/Presence.ts"
import { ChatConfigTag, type ChatConfig } from "../config/ChatConfig.ts"
import { PlatformTag, type Platform } from "../platform/types.ts"
import { makeProviders, type PushConfigError, resolveVapidKeys, workerOptions } from "./configure.ts"
import { makePushWorker } from "./PushWorker.ts"

export const startPush = (
  config: ChatConfig,
  store: ChatStore,
  presence: Presence,
  platform: Platform
): Effect.Effect<{ readonly vapidPublicKey: string }, PushConfigError, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    if (config.pushWorker !== "node") return { vapidPublicKey: (yield* resolveVapidKeys(config)).publicKey }
    const http2 = yield* Effect.acquireRelease(Effect.sync(platform.makeHttp2Client), (c) => Effect.promise(() => c.close()))
    const { providers, vapidPublicKey } = yield* makeProviders(config, http2)
    const worker = makePushWorker({ store, presence, providers, options: workerOptions(config) })
    yield* Effect.forkScoped(worker.run)
    yield* Effect.logInfo("push worker running in this node").pipe(
      Effect.annotateLogs({ providers: providers.map((p) => p.platform).join(","), vapidPublicKey })
    )
    return { vapidPublicKey }
  })

/** Push in this node: the VAPID public key the gateway serves (and the in-node worker, if any). */
export class PushTag extends Context.Tag("chat/Push")<PushTag, { readonly vapidPublicKey: string }>() {}

/** startPush over the services in context, for the life of the layer. */
export const layer: Layer.Layer<
  PushTag,
  PushConfigError,
  ChatConfigTag | ChatStoreTag | PresenceTag | PlatformTag | FileSystem.FileSystem | Path.Path
> = Layer.scoped(
  PushTag,
  Effect.gen(function* () {
    return yield* startPush(yield* ChatConfigTag, yield* ChatStoreTag, yield* PresenceTag, yield* PlatformTag)
  })
)
