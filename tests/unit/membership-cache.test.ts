/**
 * The in-process MembershipCache (src/chat/MembershipCache.ts), on the test clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { makeLocal } from "../../src/chat/MembershipCache.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"

const alice = "alice" as UserId
const bob = "bob" as UserId
const room = (n: number) => `0190f3a0-0000-7000-8000-${String(n).padStart(12, "0")}` as RoomId
const members = new Map<UserId, Role>([[alice, "admin"]])

describe("membership cache - in process", () => {
  it.effect("answers roles and cached non-members, and misses for rooms it does not hold", () =>
    Effect.gen(function* () {
      const cache = makeLocal()
      yield* cache.put(room(1), members)
      expect(yield* cache.get(room(1), alice)).toEqual(Option.some("admin"))
      expect(yield* cache.get(room(1), bob)).toEqual(Option.some("none"))
      expect(yield* cache.get(room(2), alice)).toEqual(Option.none())
    })
  )

  it.effect("forgets an entry after the TTL", () =>
    Effect.gen(function* () {
      const cache = makeLocal({ ttlMs: 1_000 })
      yield* cache.put(room(1), members)
      yield* TestClock.adjust("999 millis")
      expect(yield* cache.get(room(1), alice)).toEqual(Option.some("admin"))
      yield* TestClock.adjust("1 millis")
      expect(yield* cache.get(room(1), alice)).toEqual(Option.none())
    })
  )

  it.effect("evicts the least recently used room beyond maxRooms", () =>
    Effect.gen(function* () {
      const cache = makeLocal({ maxRooms: 2 })
      yield* cache.put(room(1), members)
      yield* cache.put(room(2), members)
      yield* cache.get(room(1), alice) // room 2 is now the least recently used
      yield* cache.put(room(3), members)
      expect(yield* cache.get(room(1), alice)).toEqual(Option.some("admin"))
      expect(yield* cache.get(room(2), alice)).toEqual(Option.none())
      expect(yield* cache.get(room(3), alice)).toEqual(Option.some("admin"))
    })
  )

  it.effect("ignores puts for holdMs after an invalidation, then caches again", () =>
    Effect.gen(function* () {
      const cache = makeLocal({ holdMs: 500 })
      yield* cache.put(room(1), members)
      yield* cache.invalidate(room(1))
      expect(yield* cache.get(room(1), alice)).toEqual(Option.none())
      yield* cache.put(room(1), members)
      expect(yield* cache.get(room(1), alice)).toEqual(Option.none())
      yield* TestClock.adjust("500 millis")
      yield* cache.put(room(1), members)
      expect(yield* cache.get(room(1), alice)).toEqual(Option.some("admin"))
    })
  )
})
