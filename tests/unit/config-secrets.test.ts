import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, type ConfigError, Effect, Exit, Layer, Option, Redacted } from "effect"
import { ChatConfigTag, type ChatConfig } from "../../src/config/ChatConfig.ts"
import { parseKey } from "../../src/config/keyFormat.ts"
import { JWT_SECRET_FILE, MASTER_KEY_FILE, resolveSecrets, type ResolvedSecrets, type SecretError } from "../../src/config/secrets.ts"
import * as Logging from "../../src/logging/Logging.ts"

const KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
const KEY_B64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8="
const KEY_B64URL = "ABEiM0RVZneImaq7zN3u_wARIjNEVWZ3iJmqu8zd7v8"

/** Resolves secrets against a fresh temp data dir, capturing log lines. */
const withDataDir = <A, E>(
  overrides: Partial<ChatConfig>,
  body: (
    dir: string,
    resolve: Effect.Effect<ResolvedSecrets, SecretError | ConfigError.ConfigError, FileSystem.FileSystem | Path.Path>,
    logs: Array<string>
  ) => Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>
) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "chat-secrets-" })
    const logs: Array<string> = []
    const resolve = resolveSecrets.pipe(
      Effect.provide(Layer.merge(ChatConfigTag.layerFrom({ dataDir: dir, ...overrides }), Logging.layerCapture((l) => logs.push(l))))
    )
    return yield* body(dir, resolve, logs)
  }).pipe(Effect.provide(NodeContext.layer))

const hex = (r: Redacted.Redacted<Uint8Array>) => Buffer.from(Redacted.value(r)).toString("hex")

const failureMessage = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(self), (exit) => (Exit.isFailure(exit) ? Cause.pretty(exit.cause) : expect.fail("expected a failure")))

describe("secrets", () => {
  it.scoped("secrets - embedded mode generates a JWT secret and a master key once, mode 0600", () =>
    withDataDir({}, (dir, resolve, logs) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const first = yield* resolve
        const second = yield* resolve
        const secret = Redacted.value(Option.getOrThrow(first.jwtSecret))
        expect(secret).toMatch(/^[A-Za-z0-9+/]{43}=$/)
        expect(Redacted.value(Option.getOrThrow(second.jwtSecret))).toBe(secret)
        expect(Redacted.value(first.masterKey).length).toBe(32)
        expect(hex(second.masterKey)).toBe(hex(first.masterKey))
        for (const name of [JWT_SECRET_FILE, MASTER_KEY_FILE]) {
          const info = yield* fs.stat(`${dir}/${name}`)
          expect(info.mode & 0o777).toBe(0o600)
        }
        expect((yield* fs.readFileString(`${dir}/${JWT_SECRET_FILE}`)).trim()).toBe(secret)
        // Generation is announced with the path, twice (two files), and only the first time.
        const generated = logs.filter((l) => l.includes("generated a new"))
        expect(generated.length).toBe(2)
        expect(generated.join("\n")).toContain(`${dir}/${MASTER_KEY_FILE}`)
        expect(logs.join("\n")).not.toContain(secret)
        expect((yield* fs.readDirectory(dir)).sort()).toEqual([JWT_SECRET_FILE, MASTER_KEY_FILE])
      })
    ))

  it.scoped("secrets - the data dir is created when missing", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "chat-secrets-" })
      const nested = `${dir}/a/b`
      yield* resolveSecrets.pipe(Effect.provide(ChatConfigTag.layerFrom({ dataDir: nested })))
      expect(yield* fs.exists(`${nested}/${MASTER_KEY_FILE}`)).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("secrets - concurrent first starts agree on one master key", () =>
    withDataDir({}, (_dir, resolve) =>
      Effect.gen(function* () {
        const all = yield* Effect.all(Array.from({ length: 8 }, () => resolve), { concurrency: "unbounded" })
        expect(new Set(all.map((s) => hex(s.masterKey))).size).toBe(1)
        expect(new Set(all.map((s) => Redacted.value(Option.getOrThrow(s.jwtSecret)))).size).toBe(1)
      })
    ))

  it.scoped("secrets - configured values win and no file is written", () =>
    withDataDir(
      { jwtSecret: Option.some(Redacted.make("configured-secret-configured-secret")), masterKey: Option.some(Redacted.make(KEY_HEX)) },
      (dir, resolve) =>
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const s = yield* resolve
          expect(Redacted.value(Option.getOrThrow(s.jwtSecret))).toBe("configured-secret-configured-secret")
          expect(hex(s.masterKey)).toBe(KEY_HEX)
          expect(yield* fs.readDirectory(dir)).toEqual([])
        })
    ))

  it.scoped("secrets - with a JWKS URL no JWT secret is generated", () =>
    withDataDir({ jwksUrl: Option.some("https://idp.example/jwks.json") }, (dir, resolve) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const s = yield* resolve
        expect(Option.isNone(s.jwtSecret)).toBe(true)
        expect(yield* fs.readDirectory(dir)).toEqual([MASTER_KEY_FILE])
      })
    ))

  it.scoped("secrets - old master keys are parsed for rotation", () =>
    withDataDir({ masterKey: Option.some(Redacted.make(KEY_HEX)), masterKeysOld: [Redacted.make(KEY_B64), Redacted.make(KEY_B64URL)] }, (_dir, resolve) =>
      Effect.gen(function* () {
        const s = yield* resolve
        expect(s.oldMasterKeys.map(hex)).toEqual([KEY_HEX, KEY_HEX])
      })
    ))

  it.scoped("secrets - a malformed master key fails naming the variable, never echoing it", () =>
    withDataDir({ masterKey: Option.some(Redacted.make("not-a-key-but-a-secret-value")) }, (_dir, resolve) =>
      Effect.gen(function* () {
        const message = yield* failureMessage(resolve)
        expect(message).toContain("CHAT_MASTER_KEY")
        expect(message).toContain("64 hex characters or base64 of 32 bytes")
        expect(message).not.toContain("not-a-key-but-a-secret-value")
      })
    ))

  it.scoped("secrets - a malformed old key fails naming its position", () =>
    withDataDir({ masterKey: Option.some(Redacted.make(KEY_HEX)), masterKeysOld: [Redacted.make(KEY_HEX), Redacted.make("short")] }, (_dir, resolve) =>
      Effect.gen(function* () {
        const message = yield* failureMessage(resolve)
        expect(message).toContain("CHAT_MASTER_KEYS_OLD item 2")
        expect(message).not.toContain("short")
      })
    ))

  it.scoped("secrets - a corrupt master-key file fails naming the file", () =>
    withDataDir({}, (dir, resolve) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        yield* fs.writeFileString(`${dir}/${MASTER_KEY_FILE}`, "garbage\n", { mode: 0o600 })
        const message = yield* failureMessage(resolve)
        expect(message).toContain(`${dir}/${MASTER_KEY_FILE}`)
        expect(message).not.toContain("garbage")
      })
    ))

  it.scoped("secrets - a key file readable by others is reported", () =>
    withDataDir({}, (dir, resolve, logs) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        yield* fs.writeFileString(`${dir}/${MASTER_KEY_FILE}`, `${KEY_HEX}\n`, { mode: 0o644 })
        yield* fs.chmod(`${dir}/${MASTER_KEY_FILE}`, 0o644)
        const s = yield* resolve
        expect(hex(s.masterKey)).toBe(KEY_HEX)
        expect(logs.some((l) => l.includes("chmod 600"))).toBe(true)
      })
    ))

  it("secrets - key format accepts hex, base64 and base64url of 32 bytes only", () => {
    const ok = (s: string) => parseKey(s)._tag === "Right"
    expect(ok(KEY_HEX)).toBe(true)
    expect(ok(KEY_HEX.toUpperCase())).toBe(true)
    expect(ok(KEY_B64)).toBe(true)
    expect(ok(KEY_B64URL)).toBe(true)
    expect(ok(` ${KEY_HEX}\n`)).toBe(true)
    expect(ok(KEY_HEX.slice(2))).toBe(false)
    expect(ok(Buffer.alloc(31).toString("base64"))).toBe(false)
    expect(ok(Buffer.alloc(33).toString("base64"))).toBe(false)
    expect(ok("")).toBe(false)
  })
})
