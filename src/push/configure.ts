/**
 * The providers and worker options from the configuration. Files (the APNs .p8 key, the FCM
 * service account key, the generated VAPID key pair) are read through @effect/platform's
 * FileSystem, so this runs on Node and Deno; the HTTP/2 client for APNs is passed in by the
 * entry point (node:http2 lives in src/platform/http2.node.ts).
 */
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect, Option, Redacted } from "effect"
import type { ChatConfig } from "../config/ChatConfig.ts"
import type { Http2Client } from "./Http2.ts"
import type { PushProvider } from "./Provider.ts"
import type { PushWorkerOptions } from "./PushWorker.ts"
import { makeApns } from "./providers/apns.ts"
import { makeFcm, parseServiceAccount } from "./providers/fcm.ts"
import { generateVapidKeys, makeWebPush, type VapidKeys } from "./providers/webPush.ts"

export const VAPID_FILE = "vapid-keys.json"

/** A push setting that cannot be used; never carries a key. */
export class PushConfigError extends Data.TaggedError("PushConfigError")<{ readonly message: string }> {}

/**
 * CHAT_VAPID_* when set; else `<dataDir>/vapid-keys.json`, read or created once (mode 0600).
 * The public key is not secret: the web app needs it to subscribe.
 */
export const resolveVapidKeys = (config: ChatConfig) =>
  Effect.gen(function* () {
    if (Option.isSome(config.vapidPublicKey) && Option.isSome(config.vapidPrivateKey)) {
      return { publicKey: config.vapidPublicKey.value, privateKey: Redacted.value(config.vapidPrivateKey.value) } satisfies VapidKeys
    }
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(config.dataDir, VAPID_FILE)
    const fail = (action: string) => () => new PushConfigError({ message: `cannot ${action} ${file}` })
    const read = Effect.flatMap(fs.readFileString(file).pipe(Effect.mapError(fail("read"))), (text) =>
      Effect.try({
        try: () => {
          const k = JSON.parse(text) as Partial<VapidKeys>
          if (typeof k.publicKey !== "string" || typeof k.privateKey !== "string") throw new Error("fields")
          return { publicKey: k.publicKey, privateKey: k.privateKey } satisfies VapidKeys
        },
        catch: () => new PushConfigError({ message: `${file} is not a VAPID key pair; delete it to generate a new one` })
      })
    )
    if (yield* fs.exists(file).pipe(Effect.mapError(fail("check")))) return yield* read
    yield* fs.makeDirectory(config.dataDir, { recursive: true }).pipe(Effect.mapError(fail("create the directory of")))
    const keys = generateVapidKeys()
    // Exclusive create: a second process starting on the same data dir reads the first one's pair.
    const created = yield* fs.writeFileString(file, `${JSON.stringify(keys)}\n`, { flag: "wx", mode: 0o600 }).pipe(
      Effect.as(true),
      Effect.catchAll(() => Effect.succeed(false))
    )
    if (!created) return yield* read
    yield* Effect.logWarning(`generated a Web Push VAPID key pair at ${file}; keep it: subscriptions are bound to it`)
    return keys
  })

export const makeProviders = (config: ChatConfig, http2: Http2Client) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const readFile = (file: string, what: string) =>
      fs.readFileString(file).pipe(Effect.mapError(() => new PushConfigError({ message: `cannot read ${what} ${file}` })))
    const providers: Array<PushProvider> = []
    const vapid = yield* resolveVapidKeys(config)
    providers.push(makeWebPush({ vapid, subject: config.vapidSubject, ttlSeconds: config.pushTtlSeconds }))
    if (Option.isSome(config.apnsKeyFile) && Option.isSome(config.apnsKeyId) && Option.isSome(config.apnsTeamId) && Option.isSome(config.apnsTopic)) {
      const keyPem = yield* readFile(config.apnsKeyFile.value, "the APNs key (CHAT_APNS_KEY_FILE)")
      providers.push(
        makeApns({
          keyPem,
          keyId: config.apnsKeyId.value,
          teamId: config.apnsTeamId.value,
          topic: config.apnsTopic.value,
          url: config.apnsUrl,
          ttlSeconds: config.pushTtlSeconds,
          http2
        })
      )
    }
    if (Option.isSome(config.fcmServiceAccountFile)) {
      const text = yield* readFile(config.fcmServiceAccountFile.value, "the FCM service account key (CHAT_FCM_SERVICE_ACCOUNT_FILE)")
      const account = yield* Effect.try({
        try: () => parseServiceAccount(text),
        catch: (e) => new PushConfigError({ message: `CHAT_FCM_SERVICE_ACCOUNT_FILE: ${(e as Error).message}` })
      })
      providers.push(
        makeFcm({
          account,
          url: config.fcmUrl,
          ...(Option.isSome(config.fcmTokenUrl) ? { tokenUrl: config.fcmTokenUrl.value } : {}),
          ttlSeconds: config.pushTtlSeconds
        })
      )
    }
    return { providers, vapidPublicKey: vapid.publicKey }
  })

export const workerOptions = (config: ChatConfig): PushWorkerOptions => ({
  pollMs: config.pushPollMs,
  settleMs: config.pushSettleMs,
  leaseMs: config.pushLeaseMs,
  maxAttempts: config.pushMaxAttempts,
  retryBaseMs: config.pushRetryBaseMs,
  retryMaxMs: config.pushRetryMaxMs,
  suppress: config.pushSuppress,
  previewChars: config.pushPreviewChars,
  rooms: 16,
  sendConcurrency: 16
})
