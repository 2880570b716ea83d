import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Layer, LogLevel, Option, Redacted } from "effect"
import { make, signToken } from "../../src/auth/Auth.ts"
import { ChatConfigTag } from "../../src/config/ChatConfig.ts"
import { resolveSecrets } from "../../src/config/secrets.ts"
import * as Logging from "../../src/logging/Logging.ts"
import { REDACTED, redact, redactUrl } from "../../src/logging/redact.ts"
import { bytesToBase64 } from "../../core/util/base64.ts"

describe("logging - secrets never reach the log", () => {
  it.scoped("logging - secret resolution and token checks log no token, secret or key", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "chat-logging-" })
      const lines: Array<string> = []
      const capture = Logging.layerCapture((l) => lines.push(l), LogLevel.All)

      const program = Effect.gen(function* () {
        const secrets = yield* resolveSecrets
        const secret = Option.getOrThrow(secrets.jwtSecret)
        const auth = yield* make({ secret })
        const good = yield* signToken(secret, "alice")
        const expired = yield* signToken(secret, "alice", { expiresIn: -60 })
        const forged = yield* signToken("some-other-secret-some-other-secret", "alice")
        expect(yield* auth.verify(good)).toBe("alice")
        yield* Effect.flip(auth.verify(expired))
        yield* Effect.flip(auth.verify(forged))
        // Careless logging is scrubbed too: by key, by JWT shape, inside URLs and causes.
        yield* Effect.logInfo("request", { token: good, headers: { authorization: `Bearer ${good}` }, body: "hi" })
        yield* Effect.logWarning(`handshake with ${good} failed`).pipe(
          Effect.annotateLogs({ access_token: good, secret: Redacted.value(secret), db: "postgres://chat:pw-123@db/chat" })
        )
        yield* Effect.logError("boom", Cause.fail(new Error(`verify failed for ${expired}`)))
        return {
          tokens: [good, expired, forged],
          secret: Redacted.value(secret),
          masterKey: Redacted.value(secrets.masterKey)
        }
      })

      const seen = yield* program.pipe(Effect.provide(Layer.merge(ChatConfigTag.layerFrom({ dataDir: dir }), capture)))
      const output = lines.join("\n")
      expect(lines.length).toBeGreaterThanOrEqual(5)
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow()
      expect(output).toContain("generated a new master key")
      expect(output).toContain("token expired") // the reason is logged...
      for (const token of seen.tokens) {
        expect(output).not.toContain(token) // ...the token is not
        expect(output).not.toContain(token.split(".")[2]) // nor its signature alone
      }
      expect(output).not.toContain(seen.secret)
      expect(output).not.toContain(bytesToBase64(seen.masterKey))
      expect(output).not.toContain(Buffer.from(seen.masterKey).toString("hex"))
      expect(output).not.toContain("pw-123")
      expect(output).not.toContain('"hi"')
      expect(output).toContain(REDACTED)
    }).pipe(Effect.provide(NodeContext.layer)))

  it("logging - redact hides sensitive keys, Redacted values and JWT-shaped text", () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    expect(
      redact({
        token: "t",
        keyspace: "chat",
        nested: { body: "hello", password: "p", note: `Bearer ${jwt}` },
        list: [Redacted.make("s"), "plain"],
        err: new Error(`bad ${jwt}`)
      })
    ).toEqual({
      token: REDACTED,
      keyspace: "chat",
      nested: { body: REDACTED, password: REDACTED, note: `Bearer ${REDACTED}` },
      list: [REDACTED, "plain"],
      err: { name: "Error", message: `bad ${REDACTED}` }
    })
  })

  it("logging - redactUrl keeps the user and host, drops the password and token parameters", () => {
    expect(redactUrl("postgres://chat:s3cret@db:5432/chat?sslmode=require")).toBe(
      `postgres://chat:${REDACTED}@db:5432/chat?sslmode=require`
    )
    expect(redactUrl("wss://h/v1/ws?access_token=abc&x=1")).toBe(`wss://h/v1/ws?access_token=${REDACTED}&x=1`)
  })
})
