/**
 * Secrets resolved from configuration plus, in embedded mode, files in the data dir: with no
 * CHAT_JWT_SECRET (and no JWKS/PEM key) `<dataDir>/jwt-secret`, with no CHAT_MASTER_KEY
 * `<dataDir>/master-key`, each read if present or else created once (32 random bytes, base64,
 * mode 0600). Values are only ever held as Redacted and never logged.
 */
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Context, Data, Effect, Either, Layer, Option, Redacted } from "effect"
import { bytesToBase64 } from "../util/base64.ts"
import { ChatConfigTag } from "./ChatConfig.ts"
import { KEY_BYTES, parseKey } from "./keyFormat.ts"
import { ensurePrivateDir } from "../startup/dataDir.ts"

export const JWT_SECRET_FILE = "jwt-secret"
export const MASTER_KEY_FILE = "master-key"

export interface ResolvedSecrets {
  /** HS256 secret (UTF-8 of the string is the HMAC key); None when only JWKS/PEM is used. */
  readonly jwtSecret: Option.Option<Redacted.Redacted<string>>
  /** The current master key, 32 bytes. */
  readonly masterKey: Redacted.Redacted<Uint8Array>
  /** Previous master keys, accepted for unwrapping only, during rotation. */
  readonly oldMasterKeys: ReadonlyArray<Redacted.Redacted<Uint8Array>>
}

/** A secret is malformed or its file cannot be read or created. Never carries the value. */
export class SecretError extends Data.TaggedError("SecretError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// HMAC keys shorter than the hash output (32 bytes for SHA-256) weaken HS256 (RFC 7518 3.2).
const MIN_JWT_SECRET_BYTES = 32

const parseOrFail = (raw: string, where: string) =>
  Either.match(parseKey(raw), {
    onLeft: (hint) => Effect.fail(new SecretError({ message: `${where} ${hint}` })),
    onRight: (bytes) => Effect.succeed(Redacted.make(bytes))
  })

const randomSecret = () => bytesToBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)))

const fileError = (file: string, action: string) => (cause: PlatformError) =>
  new SecretError({ message: `cannot ${action} ${file}: ${cause.message}`, cause })

/**
 * Reads `<dir>/<name>`, or creates it with a fresh random value. Creation is atomic and
 * exclusive (a private temp file, then a hard link that fails if the name exists), so two
 * processes starting on one data dir agree on a single key and nobody reads a half-written one.
 */
const readOrCreate = (dir: string, name: string, what: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(dir, name)
    const read = fs.readFileString(file).pipe(
      Effect.map((s) => s.trim()),
      Effect.mapError(fileError(file, "read"))
    )
    if (yield* fs.exists(file).pipe(Effect.mapError(fileError(file, "check")))) {
      yield* warnIfShared(file)
      return { value: yield* read, file }
    }
    yield* ensurePrivateDir(dir).pipe(Effect.mapError((e) => new SecretError({ message: e.message, cause: e })))
    const value = randomSecret()
    const created = yield* createExclusive(file, `${value}\n`)
    if (!created) return { value: yield* read, file } // another process won the race: use its value
    yield* Effect.logWarning(`generated a new ${what} at ${file}; keep it and back it up`).pipe(
      Effect.annotateLogs({ file })
    )
    return { value, file }
  })

const createExclusive = (file: string, content: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const isExists = (e: PlatformError) => e._tag === "SystemError" && e.reason === "AlreadyExists"
    const tmp = `${file}.${randomSecret().replace(/[^A-Za-z0-9]/g, "").slice(0, 12)}.tmp`
    yield* fs.writeFileString(tmp, content, { flag: "wx", mode: 0o600 }).pipe(Effect.mapError(fileError(tmp, "write")))
    const linked = yield* fs.link(tmp, file).pipe(
      Effect.as(true),
      Effect.catchIf(isExists, () => Effect.succeed(false)),
      // Some file systems have no hard links: fall back to an exclusive create.
      Effect.catchAll(() =>
        fs.writeFileString(file, content, { flag: "wx", mode: 0o600 }).pipe(
          Effect.as(true),
          Effect.catchIf(isExists, () => Effect.succeed(false)),
          Effect.mapError(fileError(file, "write"))
        )
      ),
      Effect.ensuring(fs.remove(tmp).pipe(Effect.ignore))
    )
    return linked
  })

// A key file others can read defeats encryption at rest; say so, but do not refuse to start.
const warnIfShared = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(Effect.option)
    if (Option.isSome(info) && (info.value.mode & 0o077) !== 0) {
      yield* Effect.logWarning(`${file} is accessible to other users; run chmod 600 on it`).pipe(
        Effect.annotateLogs({ file })
      )
    }
  })

const resolveJwtSecret = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  if (Option.isSome(config.jwtSecret)) {
    if (new TextEncoder().encode(Redacted.value(config.jwtSecret.value)).length < MIN_JWT_SECRET_BYTES) {
      yield* Effect.logWarning(`CHAT_JWT_SECRET is shorter than ${MIN_JWT_SECRET_BYTES} bytes; use a longer random secret`)
    }
    return config.jwtSecret
  }
  // Asymmetric mode: tokens are verified with public keys only, no shared secret exists.
  if (Option.isSome(config.jwksUrl) || Option.isSome(config.jwtPublicKey)) return Option.none()
  const { file, value } = yield* readOrCreate(config.dataDir, JWT_SECRET_FILE, "JWT secret (CHAT_JWT_SECRET)")
  if (value === "") return yield* new SecretError({ message: `${file} is empty; delete it to generate a new one` })
  return Option.some(Redacted.make(value))
})

const resolveMasterKey = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  if (Option.isSome(config.masterKey)) return yield* parseOrFail(Redacted.value(config.masterKey.value), "CHAT_MASTER_KEY")
  const { file, value } = yield* readOrCreate(config.dataDir, MASTER_KEY_FILE, "master key (CHAT_MASTER_KEY)")
  return yield* parseOrFail(value, file)
})

const resolveOldMasterKeys = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  return yield* Effect.forEach(config.masterKeysOld, (key, i) =>
    parseOrFail(Redacted.value(key), `CHAT_MASTER_KEYS_OLD item ${i + 1}`)
  )
})

export const resolveSecrets: Effect.Effect<
  ResolvedSecrets,
  SecretError,
  ChatConfigTag | FileSystem.FileSystem | Path.Path
> = Effect.all({
  jwtSecret: resolveJwtSecret,
  masterKey: resolveMasterKey,
  oldMasterKeys: resolveOldMasterKeys
})

export class Secrets extends Context.Tag("chat/Secrets")<Secrets, ResolvedSecrets>() {
  static readonly layer: Layer.Layer<Secrets, SecretError, ChatConfigTag | FileSystem.FileSystem | Path.Path> =
    Layer.effect(Secrets, resolveSecrets)

  /** Fixed values for tests: the given HS256 secret and a master key of `masterKeyByte` repeated. */
  static readonly layerTest = (options: { readonly jwtSecret?: string; readonly masterKeyByte?: number } = {}) =>
    Layer.succeed(Secrets, {
      jwtSecret: Option.map(Option.fromNullable(options.jwtSecret), (s) => Redacted.make(s)),
      masterKey: Redacted.make(new Uint8Array(KEY_BYTES).fill(options.masterKeyByte ?? 7)),
      oldMasterKeys: []
    })
}

