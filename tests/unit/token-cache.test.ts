import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, TestClock } from "effect"
import { make, signToken } from "../../src/auth/Auth.ts"
import { withTokenCache, type Verified } from "../../src/auth/tokenCache.ts"
import { Unauthorized } from "../../core/errors.ts"
import type { UserId } from "../../core/model.ts"

const SECRET = "test-secret-test-secret-test-secret!"

/** A stand-in verifier: `good-*` tokens are valid until `exp` (seconds), the rest are refused; counts calls. */
const counting = (exp: number) => {
  const calls: Array<string> = []
  const verify = (token: string): Effect.Effect<Verified, Unauthorized> =>
    Effect.suspend(() => {
      calls.push(token)
      return token.startsWith("good-")
        ? Effect.succeed({ user: token.slice(5) as UserId, exp })
        : Effect.fail(new Unauthorized({ message: "invalid token" }))
    })
  return { calls, verify }
}

describe("auth - token cache", () => {
  it.effect("auth - answers a token it verified before without verifying it again", () =>
    Effect.gen(function* () {
      const { calls, verify } = counting(3600)
      const cached = withTokenCache(verify).verify
      expect(yield* cached("good-alice")).toBe("alice")
      expect(yield* cached("good-alice")).toBe("alice")
      expect(yield* cached("good-bob")).toBe("bob")
      expect(calls).toEqual(["good-alice", "good-bob"])
    }))

  it.effect("auth - never caches a refusal", () =>
    Effect.gen(function* () {
      const { calls, verify } = counting(3600)
      const cached = withTokenCache(verify).verify
      expect((yield* Effect.flip(cached("bad"))).message).toBe("invalid token")
      expect((yield* Effect.flip(cached("bad"))).message).toBe("invalid token")
      expect(calls).toEqual(["bad", "bad"])
    }))

  it.effect("auth - verifies a cached token again once its exp has passed", () =>
    Effect.gen(function* () {
      // TestClock starts at 0: exp 60 s is one minute from now.
      const { calls, verify } = counting(60)
      const cached = withTokenCache(verify).verify
      yield* cached("good-alice")
      yield* TestClock.adjust("59 seconds")
      yield* cached("good-alice")
      expect(calls).toHaveLength(1)
      yield* TestClock.adjust("1 second")
      yield* cached("good-alice")
      expect(calls).toHaveLength(2)
    }))

  it.effect("auth - trusts an entry at most maxAgeMs, whatever the token's exp", () =>
    Effect.gen(function* () {
      const { calls, verify } = counting(24 * 3600)
      const cached = withTokenCache(verify, { maxAgeMs: 1000 }).verify
      yield* cached("good-alice")
      yield* TestClock.adjust("999 millis")
      yield* cached("good-alice")
      expect(calls).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* cached("good-alice")
      expect(calls).toHaveLength(2)
    }))

  it.effect("auth - holds at most `capacity` tokens, evicting the least recently used, and never over-long ones", () =>
    Effect.gen(function* () {
      const { calls, verify } = counting(3600)
      const cached = withTokenCache(verify, { capacity: 2, maxTokenChars: 12 }).verify
      yield* cached("good-a")
      yield* cached("good-b")
      yield* cached("good-a")
      yield* cached("good-c") // evicts good-b, the least recently used
      yield* cached("good-a")
      yield* cached("good-b")
      expect(calls).toEqual(["good-a", "good-b", "good-c", "good-b"])
      const long = `good-${"x".repeat(8)}`
      yield* cached(long)
      yield* cached(long)
      expect(calls.filter((t) => t === long)).toHaveLength(2)
    }))

  it.effect("auth - a cached valid token does not make an altered copy of it pass", () =>
    Effect.gen(function* () {
      const auth = yield* make({ secret: Redacted.make(SECRET) })
      const token = yield* signToken(SECRET, "alice")
      expect(yield* auth.verify(token)).toBe("alice")
      const [header, payload, signature] = token.split(".")
      const flipped = signature.slice(0, -2) + (signature.at(-2) === "A" ? "B" : "A") + signature.at(-1)
      for (const altered of [`${header}.${payload}.${flipped}`, `${header}.${payload}.`, `${token}x`]) {
        expect(yield* Effect.flip(auth.verify(altered))).toBeInstanceOf(Unauthorized)
      }
      expect(yield* auth.verify(token)).toBe("alice")
    }))

  it.live("auth - peek answers only a token verified before, and never one that was refused", () =>
    Effect.gen(function* () {
      const { calls, verify } = counting(Math.floor(Date.now() / 1000) + 3600)
      const cached = withTokenCache(verify)
      expect(cached.peek("good-alice")).toBeUndefined()
      expect(yield* cached.verify("good-alice")).toBe("alice")
      expect(cached.peek("good-alice")).toBe("alice")
      yield* Effect.flip(cached.verify("bad"))
      expect(cached.peek("bad")).toBeUndefined()
      expect(cached.peek("good-bob")).toBeUndefined()
      expect(calls).toEqual(["good-alice", "bad"])
    }))

  it.effect("auth - peek treats an entry timed by a test clock as expired (a miss, never a stale hit)", () =>
    Effect.gen(function* () {
      const { verify } = counting(3600)
      const cached = withTokenCache(verify)
      expect(yield* cached.verify("good-alice")).toBe("alice")
      expect(cached.peek("good-alice")).toBeUndefined()
    }))

  it.live("auth - verifyNow of the real verifier answers a signed token once verify has", () =>
    Effect.gen(function* () {
      const auth = yield* make({ secret: Redacted.make(SECRET) })
      const token = yield* signToken(SECRET, "alice")
      expect(auth.verifyNow!(token)).toBeUndefined()
      expect(yield* auth.verify(token)).toBe("alice")
      expect(auth.verifyNow!(token)).toBe("alice")
      expect(auth.verifyNow!(`${token}x`)).toBeUndefined()
    }))
})
