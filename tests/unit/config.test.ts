import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, LogLevel, Option, Redacted } from "effect"
import { ChatConfigTag, loadChatConfig, settings } from "../../src/config/ChatConfig.ts"

/** The failure message of loading `env`, or fails the test if loading succeeds. */
const failureOf = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(loadChatConfig(env))
    if (Exit.isSuccess(exit)) return expect.fail("expected the configuration to be rejected")
    return Cause.pretty(exit.cause)
  })

describe("config", () => {
  it.effect("config - no environment gives the documented defaults", () =>
    Effect.gen(function* () {
      const c = yield* loadChatConfig({})
      expect(c.port).toBe(8080)
      expect(c.host).toBe("0.0.0.0")
      expect(c.dataDir).toBe("./data")
      expect(c.store).toBe("pglite")
      expect(c.postgresPool).toBe(10)
      expect(c.scyllaConsistency).toBe("LOCAL_QUORUM")
      expect(c.jwtAlgorithms).toEqual(["RS256"])
      expect(c.logLevel).toBe(LogLevel.Info)
      expect(c.maxBodyBytes).toBe(16384)
      expect(c.maxFrameBytes).toBe(65536)
      expect(c.replayCap).toBe(1000)
      expect(c.maxSubscriptions).toBe(100)
      expect(c.sendRate).toBe(20)
      expect(c.sendBurst).toBe(50)
      expect(c.wsMaxBufferedBytes).toBe(1048576)
      expect(c.mailboxCapacity).toBe(1024)
      expect(c.maxBatch).toBe(256)
      expect(c.actorIdleMs).toBe(60000)
      expect(c.commandTimeoutMs).toBe(10000)
      expect(c.shutdownGraceMs).toBe(10000)
      expect(Option.isNone(c.postgresUrl)).toBe(true)
      expect(Option.isNone(c.natsUrl)).toBe(true)
      expect(Option.isNone(c.jwtSecret)).toBe(true)
      expect(Option.isNone(c.masterKey)).toBe(true)
      expect(c.masterKeysOld).toEqual([])
      expect(c.scyllaContactPoints).toEqual([])
      expect(c.nodeId).toMatch(/^node-[0-9a-f]{6}$/)
    }))

  it.effect("config - reads every kind of value from the environment", () =>
    Effect.gen(function* () {
      const c = yield* loadChatConfig({
        CHAT_PORT: "9000",
        CHAT_STORE: "dual",
        CHAT_POSTGRES_URL: "postgres://u:pw@db/chat",
        CHAT_SCYLLA_CONTACT_POINTS: " a:9042, b ,,",
        CHAT_SEND_RATE: "2.5",
        CHAT_LOG_LEVEL: "debug",
        CHAT_JWT_ALGORITHMS: "ES256,EdDSA",
        CHAT_MASTER_KEYS_OLD: "k1, k2",
        CHAT_NODE_ID: "node_7"
      })
      expect(c.port).toBe(9000)
      expect(c.store).toBe("dual")
      expect(Option.map(c.postgresUrl, Redacted.value)).toEqual(Option.some("postgres://u:pw@db/chat"))
      expect(c.scyllaContactPoints).toEqual(["a:9042", "b"])
      expect(c.sendRate).toBe(2.5)
      expect(c.logLevel).toBe(LogLevel.Debug)
      expect(c.jwtAlgorithms).toEqual(["ES256", "EdDSA"])
      expect(c.masterKeysOld.map(Redacted.value)).toEqual(["k1", "k2"])
      expect(c.nodeId).toBe("node_7")
    }))

  it.effect("config - secrets are redacted when printed", () =>
    Effect.gen(function* () {
      const c = yield* loadChatConfig({ CHAT_JWT_SECRET: "hunter2-hunter2", CHAT_POSTGRES_URL: "postgres://u:pw@db/x" })
      const printed = `${JSON.stringify(c)} ${String(c.jwtSecret)} ${String(c.postgresUrl)}`
      expect(printed).not.toContain("hunter2")
      expect(printed).not.toContain(":pw@")
    }))

  it.effect("config - an empty value counts as unset", () =>
    Effect.gen(function* () {
      const c = yield* loadChatConfig({ CHAT_JWT_SECRET: "", CHAT_JWKS_URL: "", CHAT_NATS_URL: "" })
      expect(Option.isNone(c.jwtSecret)).toBe(true)
      expect(Option.isNone(c.jwksUrl)).toBe(true)
      expect(Option.isNone(c.natsUrl)).toBe(true)
    }))

  it.effect("config - the default node id is the sanitised host name plus a random suffix", () =>
    Effect.gen(function* () {
      const a = yield* loadChatConfig({ HOSTNAME: "web.1.example" })
      const b = yield* loadChatConfig({ HOSTNAME: "web.1.example" })
      expect(a.nodeId).toMatch(/^web-1-example-[0-9a-f]{6}$/)
      expect(a.nodeId).not.toBe(b.nodeId)
    }))

  it.effect("config - a non-numeric port fails naming CHAT_PORT", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ CHAT_PORT: "abc" })).toContain("CHAT_PORT")
    }))

  it.effect("config - a port out of range fails naming CHAT_PORT", () =>
    Effect.gen(function* () {
      const message = yield* failureOf({ CHAT_PORT: "70000" })
      expect(message).toContain("CHAT_PORT")
      expect(message).toContain("0 to 65535")
    }))

  it.effect("config - an unknown store fails naming CHAT_STORE and the choices", () =>
    Effect.gen(function* () {
      const message = yield* failureOf({ CHAT_STORE: "foo" })
      expect(message).toContain("CHAT_STORE")
      expect(message).toContain("pglite, postgres, scylla, dual")
    }))

  it.effect("config - a zero or negative limit is rejected", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ CHAT_MAILBOX_CAPACITY: "0" })).toContain("CHAT_MAILBOX_CAPACITY")
      expect(yield* failureOf({ CHAT_SEND_RATE: "-1" })).toContain("CHAT_SEND_RATE")
      expect(yield* failureOf({ CHAT_MAX_BATCH: "1.5" })).toContain("CHAT_MAX_BATCH")
    }))

  it.effect("config - a node id that would break NATS subjects is rejected", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ CHAT_NODE_ID: "a.b" })).toContain("CHAT_NODE_ID")
    }))

  it.effect("config - HS256 is not an accepted public-key algorithm", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ CHAT_JWT_ALGORITHMS: "RS256,HS256" })).toContain("CHAT_JWT_ALGORITHMS")
    }))

  it.effect("config - bad URLs and PEM keys fail naming the variable", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ CHAT_JWKS_URL: "not a url" })).toContain("CHAT_JWKS_URL")
      expect(yield* failureOf({ CHAT_JWT_PUBLIC_KEY: "abc" })).toContain("CHAT_JWT_PUBLIC_KEY")
      expect(yield* failureOf({ CHAT_LOG_LEVEL: "loud" })).toContain("CHAT_LOG_LEVEL")
    }))

  it.effect("config - a store that needs a URL fails without it", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ CHAT_STORE: "postgres" })).toContain("CHAT_POSTGRES_URL")
      expect(yield* failureOf({ CHAT_STORE: "scylla" })).toContain("CHAT_SCYLLA_CONTACT_POINTS")
      expect(yield* failureOf({ CHAT_STORE: "dual", CHAT_POSTGRES_URL: "postgres://x/y" })).toContain(
        "CHAT_SCYLLA_CONTACT_POINTS"
      )
    }))

  it.effect("config - JWKS and PEM together are rejected", () =>
    Effect.gen(function* () {
      const message = yield* failureOf({
        CHAT_JWKS_URL: "https://idp.example/jwks.json",
        CHAT_JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----"
      })
      expect(message).toContain("CHAT_JWKS_URL")
    }))

  it.effect("config - layerFrom applies overrides to the defaults", () =>
    Effect.gen(function* () {
      const c = yield* ChatConfigTag
      expect(c.port).toBe(0)
      expect(c.replayCap).toBe(5)
      expect(c.store).toBe("pglite")
    }).pipe(Effect.provide(ChatConfigTag.layerFrom({ port: 0, replayCap: 5 }))))

  it.effect("config - CHAT_LOG_LEVEL accepts warn and warning, none and off, in any case", () =>
    Effect.gen(function* () {
      for (const [text, level] of [["warning", LogLevel.Warning], ["WARN", LogLevel.Warning], ["none", LogLevel.None], ["Off", LogLevel.None], ["debug", LogLevel.Debug]] as const) {
        expect((yield* loadChatConfig({ CHAT_LOG_LEVEL: text })).logLevel).toEqual(level)
      }
      const bad = yield* Effect.exit(loadChatConfig({ CHAT_LOG_LEVEL: "loud" }))
      expect(Exit.isFailure(bad) && Cause.pretty(bad.cause)).toMatch(/CHAT_LOG_LEVEL/)
    })
  )

  it("config - every setting is a documented CHAT_* variable, named once", () => {
    const envs = Object.values(settings).map((s) => s.env)
    expect(new Set(envs).size).toBe(envs.length)
    for (const s of Object.values(settings)) {
      expect(s.env).toMatch(/^CHAT_[A-Z0-9_]+$/)
      expect(s.description.length).toBeGreaterThan(5)
    }
  })
})
