/**
 * The Redis MembershipCache (src/redis/RedisMembershipCache.ts) against real redis-server
 * processes; two caches with their own clients stand for two nodes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { inject } from "vitest"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import * as RedisMembershipCache from "../../src/redis/RedisMembershipCache.ts"
import { startRedis } from "../support/redis.ts"
import { captureLogs, partitionable, redisClient, testPrefix } from "../support/redisClient.ts"

const alice = "alice" as UserId
const bob = "bob" as UserId
const carol = "carol" as UserId
const newRoom = () => crypto.randomUUID() as RoomId
const members = new Map<UserId, Role>([
  [alice, "owner"],
  [bob, "member"]
])

describe("redis membership cache", () => {
  it.scoped("answers roles, cached non-members and misses, shared between nodes", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* RedisMembershipCache.make(yield* redisClient(inject("redisUrl")), { prefix })
      const b = yield* RedisMembershipCache.make(yield* redisClient(inject("redisUrl")), { prefix })
      const room = newRoom()
      expect(yield* a.get(room, alice)).toEqual(Option.none())
      yield* a.put(room, members)
      expect(yield* b.get(room, alice)).toEqual(Option.some("owner"))
      expect(yield* b.get(room, bob)).toEqual(Option.some("member"))
      expect(yield* b.get(room, carol)).toEqual(Option.some("none"))
      expect(yield* b.get(newRoom(), alice)).toEqual(Option.none())
      // A room without members is still a complete (cached) answer.
      const empty = newRoom()
      yield* a.put(empty, new Map())
      expect(yield* b.get(empty, alice)).toEqual(Option.some("none"))
    })
  )

  it.scoped("invalidate drops the room on every node, and a put right after it is ignored", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* RedisMembershipCache.make(yield* redisClient(inject("redisUrl")), { prefix })
      const b = yield* RedisMembershipCache.make(yield* redisClient(inject("redisUrl")), { prefix })
      const room = newRoom()
      yield* a.put(room, members)
      yield* b.invalidate(room)
      expect(yield* a.get(room, alice)).toEqual(Option.none())
      // A member list loaded before the change arrives late: not cached.
      yield* a.put(room, members)
      expect(yield* a.get(room, alice)).toEqual(Option.none())
    })
  )

  it.scoped("puts replace the whole member list and expire after the TTL", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const client = yield* redisClient(inject("redisUrl"))
      const cache = yield* RedisMembershipCache.make(client, { prefix, ttlMs: 5_000 })
      const room = newRoom()
      yield* cache.put(room, members)
      yield* cache.put(room, new Map([[carol, "admin"]]))
      expect(yield* cache.get(room, alice)).toEqual(Option.some("none"))
      expect(yield* cache.get(room, carol)).toEqual(Option.some("admin"))
      const ttl = (yield* client.call("PTTL", [`${prefix}members:{${room}}`])) as number
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(5_000)
    })
  )
})

describe("redis membership cache - failures", () => {
  it.scoped("misses instead of failing while Redis is down, logs once, and caches again after a restart", () =>
    Effect.gen(function* () {
      const redis = yield* Effect.acquireRelease(Effect.promise(startRedis), (r) => Effect.promise(r.stop))
      const logs = captureLogs()
      const client = yield* redisClient(redis.url)
      const cache = yield* RedisMembershipCache.make(client, { prefix: testPrefix() })
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.provide(effect, logs.layer)
      const room = newRoom()
      yield* cache.put(room, members)
      yield* Effect.promise(redis.stop)

      expect(yield* run(cache.get(room, alice))).toEqual(Option.none())
      yield* run(cache.put(room, members))
      yield* run(cache.get(room, alice))
      expect(yield* cache.status).toBe("degraded")
      expect(logs.count("membership cache: Redis unavailable")).toBe(1)

      yield* Effect.promise(redis.restart)
      yield* client.awaitReady
      yield* run(cache.put(room, members))
      expect(yield* run(cache.get(room, alice))).toEqual(Option.some("owner"))
      expect(yield* cache.status).toBe("ok")
      expect(logs.count("membership cache: Redis available again")).toBe(1)
    })
  )

  it.scoped("an invalidation that could not be sent is sent before the next use of the cache", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const link = partitionable(yield* redisClient(inject("redisUrl")))
      const a = yield* RedisMembershipCache.make(link.client, { prefix })
      const b = yield* RedisMembershipCache.make(yield* redisClient(inject("redisUrl")), { prefix })
      const room = newRoom()
      yield* a.put(room, members)

      link.cut()
      yield* a.invalidate(room)
      // Redis never heard of it: node b still reads the old list, node a does not trust it.
      expect(yield* b.get(room, alice)).toEqual(Option.some("owner"))
      link.heal()
      expect(yield* a.get(room, alice)).toEqual(Option.none())
      expect(yield* b.get(room, alice)).toEqual(Option.none())
      expect(yield* a.status).toBe("ok")
    })
  )
})
