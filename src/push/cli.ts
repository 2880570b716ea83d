/**
 * `chat push-worker`: a standalone push worker on the configured store (with
 * CHAT_PUSH_WORKER=external on the nodes, or beside nodes that run their own). Presence from
 * Redis when CHAT_REDIS_URL is set; without it the worker cannot see sockets and notifies
 * every member with devices (docs/push.md). Runs until SIGINT/SIGTERM.
 * `chat vapid-public-key`: prints the Web Push public key for the web app.
 */
import { Console, Effect, Option, Redacted } from "effect"
import { withEncryption } from "../../storage/encrypted.ts"
import { makeConfiguredStore } from "../../storage/select.ts"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import * as KeyRing from "../crypto/KeyRing.ts"
import * as RedisClient from "../redis/RedisClient.ts"
import * as RedisPresence from "../redis/RedisPresence.ts"
import { makeProviders, resolveVapidKeys, workerOptions } from "./configure.ts"
import type { Http2Client } from "./Http2.ts"
import { makePushWorker } from "./PushWorker.ts"

export const pushWorkerCommand = (makeHttp2Client: () => Http2Client) =>
  Effect.gen(function* () {
    const config = yield* ChatConfigTag
    const secrets = yield* Secrets
    const ring = yield* KeyRing.make({ current: Redacted.value(secrets.masterKey), old: secrets.oldMasterKeys.map(Redacted.value) })
    const store = withEncryption(yield* makeConfiguredStore(config), ring)
    const presence = Option.isSome(config.redisUrl)
      ? yield* RedisPresence.make(yield* RedisClient.make(config.redisUrl.value, { name: `${config.nodeId}-push` }), {
          nodeId: `${config.nodeId}-push`
        })
      : undefined
    const http2 = yield* Effect.acquireRelease(Effect.sync(makeHttp2Client), (c) => Effect.promise(() => c.close()))
    const { providers, vapidPublicKey } = yield* makeProviders(config, http2)
    yield* Effect.logInfo("push worker started").pipe(
      Effect.annotateLogs({
        store: store.name,
        providers: providers.map((p) => p.platform).join(","),
        presence: presence ? "redis" : "none",
        vapidPublicKey
      })
    )
    return yield* makePushWorker({ store, ...(presence ? { presence } : {}), providers, options: workerOptions(config) }).run
  }).pipe(Effect.scoped)

export const vapidPublicKeyCommand = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  yield* Console.log((yield* resolveVapidKeys(config)).publicKey)
})
