import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from "jose"
import { Auth, type AuthService, make, signToken } from "../../src/auth/Auth.ts"
import { ChatConfigTag } from "../../src/config/ChatConfig.ts"
import { Secrets } from "../../src/config/secrets.ts"
import { Unauthorized } from "../../core/errors.ts"
import { bytesToBase64, toBase64Url, utf8 } from "../../core/util/base64.ts"

const SECRET = "test-secret-test-secret-test-secret!"

const hs = (options: Omit<Parameters<typeof make>[0], "secret"> = {}) => make({ secret: Redacted.make(SECRET), ...options })

/** The rejection message; also asserts it never quotes the token. */
const rejection = (auth: AuthService, token: string) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(auth.verify(token))
    expect(error).toBeInstanceOf(Unauthorized)
    if (token.length > 10) expect(JSON.stringify(error) + error.message).not.toContain(token)
    return error.message
  })

const b64url = (json: object) => toBase64Url(bytesToBase64(utf8.encode(JSON.stringify(json))))
const now = () => Math.floor(Date.now() / 1000)

const signWith = (key: CryptoKey, alg: string, claims: Record<string, unknown> = { sub: "alice" }, kid?: string) =>
  Effect.promise(() =>
    new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setIssuedAt().setExpirationTime("1h").sign(key)
  )

describe("auth - HS256", () => {
  it.effect("auth - accepts a valid token and returns its sub", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      expect(yield* auth.verify(yield* signToken(SECRET, "alice"))).toBe("alice")
      expect(yield* auth.verify(yield* signToken(Redacted.make(SECRET), "a".repeat(128)))).toBe("a".repeat(128))
    }))

  it.effect("auth - rejects an expired token", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      expect(yield* rejection(auth, yield* signToken(SECRET, "alice", { expiresIn: -60 }))).toBe("token expired")
    }))

  it.effect("auth - rejects a token signed with another secret", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      const token = yield* signToken("another-secret-another-secret-another", "alice")
      expect(yield* rejection(auth, token)).toBe("invalid token signature")
    }))

  it.effect("auth - rejects a token whose payload was altered", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      const [h, , s] = (yield* signToken(SECRET, "alice")).split(".")
      const forged = `${h}.${b64url({ sub: "admin", exp: now() + 60 })}.${s}`
      expect(yield* rejection(auth, forged)).toBe("invalid token signature")
    }))

  it.effect("auth - checks iss and aud when configured", () =>
    Effect.gen(function* () {
      const auth = yield* hs({ issuer: "https://issuer.example", audience: "chat" })
      const good = yield* signToken(SECRET, "alice", { issuer: "https://issuer.example", audience: "chat" })
      expect(yield* auth.verify(good)).toBe("alice")
      const wrongIss = yield* signToken(SECRET, "alice", { issuer: "https://evil.example", audience: "chat" })
      expect(yield* rejection(auth, wrongIss)).toBe("token claim iss not accepted")
      const wrongAud = yield* signToken(SECRET, "alice", { issuer: "https://issuer.example", audience: "other" })
      expect(yield* rejection(auth, wrongAud)).toBe("token claim aud not accepted")
      const none = yield* signToken(SECRET, "alice")
      expect(yield* rejection(auth, none)).toMatch(/^token claim (iss|aud) not accepted$/)
    }))

  it.effect("auth - requires a sub of 1..128 characters", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      const key = utf8.encode(SECRET)
      const noSub = yield* Effect.promise(() => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key))
      expect(yield* rejection(auth, noSub)).toBe("token sub must be a string of 1..128 characters")
      expect(yield* rejection(auth, yield* signToken(SECRET, "a".repeat(129)))).toBe("token sub must be a string of 1..128 characters")
      expect(yield* rejection(auth, yield* signToken(SECRET, ""))).toBe("token sub must be a string of 1..128 characters")
    }))

  it.effect("auth - requires exp", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      const key = utf8.encode(SECRET)
      const forever = yield* Effect.promise(() => new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).sign(key))
      expect(yield* rejection(auth, forever)).toBe("token claim exp not accepted")
    }))

  it.effect("auth - rejects alg none", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "alice", exp: now() + 60 })}.`
      expect(yield* rejection(auth, unsigned)).toBe("token algorithm not allowed")
    }))

  it.effect("auth - rejects garbage, empty and oversized tokens", () =>
    Effect.gen(function* () {
      const auth = yield* hs()
      expect(yield* rejection(auth, "not-a-jwt")).toBe("malformed token")
      expect(yield* rejection(auth, "")).toBe("missing token")
      expect(yield* rejection(auth, "x".repeat(10_000))).toBe("token too large")
    }))

  it.effect("auth - layer wires ChatConfig and the resolved secret", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      expect(yield* auth.verify(yield* signToken(SECRET, "bob", { audience: "chat" }))).toBe("bob")
      expect(yield* rejection(auth, yield* signToken(SECRET, "bob"))).toBe("token claim aud not accepted")
    }).pipe(
      Effect.provide(
        Auth.layer.pipe(
          Layer.provide(Layer.merge(ChatConfigTag.layerFrom({ jwtAudience: Option.some("chat") }), Secrets.layerTest({ jwtSecret: SECRET })))
        )
      )
    ))

  it.effect("auth - layerTest verifies tokens from signToken", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      expect(yield* auth.verify(yield* signToken("s3cret", "carol"))).toBe("carol")
    }).pipe(Effect.provide(Auth.layerTest("s3cret"))))
})

describe("auth - PEM public key", () => {
  it.effect("auth - accepts RS256 tokens and refuses HS256 ones signed with the public key", () =>
    Effect.gen(function* () {
      const { publicKey, privateKey } = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
      const pem = yield* Effect.promise(() => exportSPKI(publicKey))
      const auth = yield* make({ publicKeyPem: pem })
      expect(yield* auth.verify(yield* signWith(privateKey, "RS256"))).toBe("alice")
      // Algorithm confusion: the public PEM used as an HMAC secret must not verify.
      const confused = yield* Effect.promise(() =>
        new SignJWT({ sub: "mallory" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(utf8.encode(pem))
      )
      expect(yield* rejection(auth, confused)).toBe("token algorithm not allowed")
      const other = yield* Effect.promise(() => generateKeyPair("RS256"))
      expect(yield* rejection(auth, yield* signWith(other.privateKey, "RS256"))).toBe("invalid token signature")
    }))

  it.effect("auth - accepts a PEM with escaped newlines, as env files carry it", () =>
    Effect.gen(function* () {
      const { publicKey, privateKey } = yield* Effect.promise(() => generateKeyPair("ES256", { extractable: true }))
      const pem = (yield* Effect.promise(() => exportSPKI(publicKey))).replace(/\n/g, "\\n")
      const auth = yield* make({ publicKeyPem: pem, algorithms: ["ES256"] })
      expect(yield* auth.verify(yield* signWith(privateKey, "ES256"))).toBe("alice")
    }))

  it.effect("auth - a key that does not fit the configured algorithm fails at startup", () =>
    Effect.gen(function* () {
      const { publicKey } = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
      const pem = yield* Effect.promise(() => exportSPKI(publicKey))
      const error = yield* Effect.flip(make({ publicKeyPem: pem, algorithms: ["ES256"] }))
      expect(error._tag).toBe("AuthSetupError")
      expect(error.message).toContain("CHAT_JWT_PUBLIC_KEY")
    }))

  it.effect("auth - no key at all fails at startup", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(make({}))
      expect(error.message).toContain("CHAT_JWT_SECRET")
    }))
})

describe("auth - JWKS", () => {
  let server: Server
  let jwksUrl: string
  let rsa: CryptoKeyPair
  let ec: CryptoKeyPair

  beforeAll(async () => {
    rsa = await generateKeyPair("RS256", { extractable: true })
    ec = await generateKeyPair("ES256", { extractable: true })
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" }
    ]
    server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ keys }))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  })

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it.effect("auth - accepts RS256 and ES256 tokens whose kid is in the JWKS", () =>
    Effect.gen(function* () {
      const auth = yield* make({ jwksUrl })
      expect(yield* auth.verify(yield* signWith(rsa.privateKey, "RS256", { sub: "alice" }, "rsa-1"))).toBe("alice")
      expect(yield* auth.verify(yield* signWith(ec.privateKey, "ES256", { sub: "bob" }, "ec-1"))).toBe("bob")
    }))

  it.effect("auth - rejects a token signed by a key not in the JWKS", () =>
    Effect.gen(function* () {
      const auth = yield* make({ jwksUrl })
      const stranger = yield* Effect.promise(() => generateKeyPair("RS256"))
      expect(yield* rejection(auth, yield* signWith(stranger.privateKey, "RS256", { sub: "eve" }, "rsa-1"))).toBe("invalid token signature")
      expect(yield* rejection(auth, yield* signWith(stranger.privateKey, "RS256", { sub: "eve" }, "unknown"))).toBe(
        "no signing key matches the token"
      )
    }))

  it.effect("auth - HS256 tokens are refused when only a JWKS is configured", () =>
    Effect.gen(function* () {
      const auth = yield* make({ jwksUrl })
      expect(yield* rejection(auth, yield* signToken(SECRET, "alice"))).toBe("token algorithm not allowed")
    }))

  it.effect("auth - an unreachable JWKS gives unauthorized, not a crash", () =>
    Effect.gen(function* () {
      const auth = yield* make({ jwksUrl: "http://127.0.0.1:1/jwks.json" })
      expect(yield* rejection(auth, yield* signWith(rsa.privateKey, "RS256", { sub: "alice" }, "rsa-1"))).toBe(
        "token signing keys unavailable"
      )
    }))
})
