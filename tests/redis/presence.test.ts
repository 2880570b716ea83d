/**
 * Redis-backed Presence (src/redis/RedisPresence.ts) against real redis-server processes.
 * Two Presence instances with their own clients and node ids stand for two nodes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schedule, Scope } from "effect"
import { inject } from "vitest"
import type { RoomId, UserId } from "../../core/model.ts"
import type { RedisClient } from "../../src/redis/RedisClient.ts"
import * as RedisPresence from "../../src/redis/RedisPresence.ts"
import { startRedis } from "../support/redis.ts"
import { captureLogs, partitionable, redisClient, testPrefix } from "../support/redisClient.ts"

const room = crypto.randomUUID() as RoomId
const alice = "alice" as UserId
const bob = "bob" as UserId
const carol = "carol" as UserId

const sorted = (users: Iterable<UserId>) => [...users].sort()

const node = (client: RedisClient, nodeId: string, prefix: string, options: Partial<RedisPresence.RedisPresenceOptions> = {}) =>
  RedisPresence.make(client, { nodeId, prefix, ...options })

const twoNodes = (url: string) =>
  Effect.gen(function* () {
    const prefix = testPrefix()
    const a = yield* node(yield* redisClient(url), "node-a", prefix)
    const b = yield* node(yield* redisClient(url), "node-b", prefix)
    return { a, b, prefix }
  })

/** Polls `effect` until `done` holds, for at most `ms`: for expiry, which runs on Redis's clock. */
const eventually = <A, E>(effect: Effect.Effect<A, E>, done: (a: A) => boolean, ms = 5_000) =>
  effect.pipe(
    Effect.repeat({ schedule: Schedule.spaced("25 millis"), until: done }),
    Effect.timeoutFail({ duration: ms, onTimeout: () => new Error(`condition not reached within ${ms} ms`) })
  )

describe("redis presence - across nodes", () => {
  it.scoped("counts first join and last leave of a room across two nodes and several subscriptions", () =>
    Effect.gen(function* () {
      const { a, b } = yield* twoNodes(inject("redisUrl"))
      expect(yield* a.join(room, alice)).toBe(true)
      expect(yield* b.join(room, alice)).toBe(false)
      expect(yield* a.join(room, alice)).toBe(false)
      expect(yield* b.join(room, bob)).toBe(true)
      expect(sorted(yield* a.online(room))).toEqual([alice, bob])
      expect(sorted(yield* b.online(room))).toEqual([alice, bob])

      expect(yield* a.leave(room, alice)).toBe(false) // a second subscription on node a remains
      expect(yield* a.leave(room, alice)).toBe(false) // node b still has alice
      expect(yield* b.leave(room, alice)).toBe(true)
      expect(yield* a.leave(room, alice)).toBe(false) // nothing left to leave
      expect(yield* a.online(room)).toEqual([bob])
      expect(yield* b.leave(room, bob)).toBe(true)
      expect(yield* b.online(room)).toEqual([])
      expect(yield* a.status).toBe("ok")
    })
  )

  it.scoped("counts a user's first and last socket across two nodes, and answers who has a socket anywhere", () =>
    Effect.gen(function* () {
      const { a, b } = yield* twoNodes(inject("redisUrl"))
      expect(yield* a.connected(alice)).toBe(true)
      expect(yield* a.connected(alice)).toBe(false)
      expect(yield* b.connected(alice)).toBe(false)
      expect(yield* b.connected(bob)).toBe(true)
      expect(sorted(yield* a.onlineUsers([alice, bob, carol, alice]))).toEqual([alice, bob])

      expect(yield* a.disconnected(alice)).toBe(false)
      expect(yield* a.disconnected(alice)).toBe(false)
      expect(yield* b.disconnected(alice)).toBe(true)
      expect(yield* b.disconnected(alice)).toBe(false)
      expect(sorted(yield* b.onlineUsers([alice, bob, carol]))).toEqual([bob])
    })
  )

  it.scoped("removes a node's entries when it shuts down cleanly", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const b = yield* node(yield* redisClient(inject("redisUrl")), "node-b", prefix)
      const scopeA = yield* Scope.make()
      const a = yield* node(yield* redisClient(inject("redisUrl")), "node-a", prefix).pipe(Scope.extend(scopeA))
      yield* a.join(room, alice)
      yield* a.connected(alice)
      yield* Scope.close(scopeA, Exit.void)
      expect(yield* b.online(room)).toEqual([])
      expect(yield* b.onlineUsers([alice])).toEqual(new Set())
      expect(yield* b.join(room, alice)).toBe(true)
    })
  )
})

describe("redis presence - crashed node", () => {
  it.scopedLive("forgets a crashed node's users after the TTL, even in keys a live node keeps alive, and leaves no keys", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const observer = yield* redisClient(inject("redisUrl"))
      const b = yield* node(observer, "node-b", prefix, { ttlMs: 1_000, heartbeatMs: 100 })
      // Node a's client and its presence close in that order: its clean-shutdown removal
      // cannot reach Redis, as in a crash.
      const presenceScope = yield* Scope.make()
      const clientScope = yield* Scope.make()
      const a = yield* node(yield* redisClient(inject("redisUrl")).pipe(Scope.extend(clientScope)), "node-a", prefix, {
        ttlMs: 1_000,
        heartbeatMs: 100
      }).pipe(Scope.extend(presenceScope))
      // alice is on both nodes (keys node b keeps refreshing), carol on node a only.
      yield* a.join(room, alice)
      yield* a.connected(alice)
      yield* a.join(room, carol)
      yield* a.connected(carol)
      expect(yield* b.join(room, alice)).toBe(false)
      expect(yield* b.connected(alice)).toBe(false)

      yield* Scope.close(clientScope, Exit.void)
      yield* Scope.close(presenceScope, Exit.void)
      expect(sorted(yield* b.online(room))).toEqual([alice, carol])
      expect(sorted(yield* b.onlineUsers([alice, carol]))).toEqual([alice, carol])

      // Wait on Redis's clock until node a's last refresh has expired (room entry and socket entry).
      const roomExpiry = yield* observer.call("HGET", [`${prefix}presence:{${room}}:user:${carol}`, "node-a"])
      const socketEntry = yield* observer.call("HGET", [`${prefix}presence:user:{${carol}}`, "node-a"])
      const expiry = Math.max(Number(roomExpiry), Number(String(socketEntry).split(":")[1]))
      expect(expiry).toBeGreaterThan(0)
      const redisNow = Effect.map(observer.call("TIME", []), (reply) => {
        const [seconds, micros] = reply as [string, string]
        return Number(seconds) * 1000 + Number(micros) / 1000
      })
      yield* eventually(redisNow, (now) => now > expiry)

      expect(yield* b.online(room)).toEqual([alice])
      expect(yield* b.onlineUsers([alice, carol])).toEqual(new Set([alice]))
      // Node a's expired fields no longer count: node b's leave is the last one.
      expect(yield* b.leave(room, alice)).toBe(true)
      expect(yield* b.disconnected(alice)).toBe(true)
      yield* eventually(observer.call("KEYS", [`${prefix}*`]), (keys) => Array.isArray(keys) && keys.length === 0)
      expect(yield* b.join(room, carol)).toBe(true)
    })
  )

  it.scopedLive("keeps a live node's users online past the TTL through its heartbeat", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const client = yield* redisClient(inject("redisUrl"))
      const a = yield* node(client, "node-a", prefix, { ttlMs: 1_000, heartbeatMs: 100 })
      yield* a.join(room, alice)
      const entry = `${prefix}presence:{${room}}:user:${alice}`
      const expiryOf = Effect.map(client.call("HGET", [entry, "node-a"]), Number)
      const first = yield* expiryOf
      // A refresh written after the first expiry would have passed: the entry outlived its first TTL.
      yield* eventually(expiryOf, (e) => e >= first + 1_100)
      expect(yield* a.online(room)).toEqual([alice])
    })
  )
})

describe("redis presence - Redis down", () => {
  it.scoped("answers from this node while Redis is down, reports stale without failing callers, and resyncs after a restart", () =>
    Effect.gen(function* () {
      const redis = yield* Effect.acquireRelease(Effect.promise(startRedis), (r) => Effect.promise(r.stop))
      const logs = captureLogs()
      const prefix = testPrefix()
      const clientA = yield* redisClient(redis.url)
      const clientB = yield* redisClient(redis.url)
      const a = yield* node(clientA, "node-a", prefix)
      const b = yield* node(clientB, "node-b", prefix)
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.provide(effect, logs.layer)
      yield* a.join(room, alice)
      yield* b.join(room, bob)
      yield* a.connected(alice)

      yield* Effect.promise(redis.stop)
      expect(yield* run(a.join(room, carol))).toBe(true)
      expect(sorted(yield* run(a.online(room)))).toEqual([alice, carol]) // only what node a holds
      expect(yield* run(a.leave(room, alice))).toBe(true)
      expect(yield* run(a.onlineUsers([alice, bob]))).toEqual(new Set([alice]))
      expect(yield* run(a.connected(carol))).toBe(true)
      expect(yield* a.status).toBe("stale")
      yield* run(a.heartbeat) // Redis still down: stays stale, quietly
      expect(yield* a.status).toBe("stale")
      expect(logs.count("presence: Redis unavailable")).toBe(1)

      // The restarted Redis is empty; each node's heartbeat writes its entries back.
      yield* Effect.promise(redis.restart)
      yield* clientA.awaitReady
      yield* clientB.awaitReady
      yield* run(a.heartbeat)
      yield* run(b.heartbeat)
      expect(yield* a.status).toBe("ok")
      expect(logs.count("presence: Redis available again")).toBe(1)
      expect(sorted(yield* b.online(room))).toEqual([bob, carol])
      expect(sorted(yield* b.onlineUsers([alice, bob, carol]))).toEqual([alice, carol])
      expect(yield* b.join(room, carol)).toBe(false)
    })
  )

  it.scoped("removes on resync what a node left while it could not reach Redis", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const link = partitionable(yield* redisClient(inject("redisUrl")))
      const a = yield* node(link.client, "node-a", prefix)
      const b = yield* node(yield* redisClient(inject("redisUrl")), "node-b", prefix)
      yield* a.join(room, alice)
      yield* a.connected(alice)

      link.cut()
      expect(yield* a.leave(room, alice)).toBe(true)
      expect(yield* a.disconnected(alice)).toBe(true)
      expect(yield* a.join(room, bob)).toBe(true)
      expect(yield* a.status).toBe("stale")
      // Node b still sees what Redis last heard from node a.
      expect(yield* b.online(room)).toEqual([alice])

      link.heal()
      yield* a.heartbeat
      expect(yield* a.status).toBe("ok")
      expect(yield* b.online(room)).toEqual([bob])
      expect(yield* b.onlineUsers([alice])).toEqual(new Set())
    })
  )
})
