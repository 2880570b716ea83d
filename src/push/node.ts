/** Push inside a node: resolve the VAPID key pair and, with CHAT_PUSH_WORKER=node, run a worker. */
import type { FileSystem, Path } from "@effect/platform"
import { Effect, type Scope } from "effect"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { Presence } from "../chat/Presence.ts"
import type { ChatConfig } from "../config/ChatConfig.ts"
import type { Platform } from "../platform/types.ts"
import { makeProviders, resolveVapidKeys, workerOptions } from "./configure.ts"
import { makePushWorker } from "./PushWorker.ts"

export const startPush = (
  config: ChatConfig,
  store: ChatStore,
  presence: Presence,
  platform: Platform
): Effect.Effect<{ readonly vapidPublicKey: string }, unknown, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
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
