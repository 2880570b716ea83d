/**
 * The Redis-backed SendLimiter (src/redis/RedisRateLimiter.ts) against real redis-server
 * processes. Two limiters with two clients stand for two nodes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { inject } from "vitest"
import { RateLimited } from "../../core/errors.ts"
import * as RedisRateLimiter from "../../src/redis/RedisRateLimiter.ts"
import { startRedis } from "../support/redis.ts"
import { captureLogs, redisClient, testPrefix } from "../support/redisClient.ts"

const limiter = (url: string, options: RedisRateLimiter.RedisLimiterOptions) =>
  Effect.flatMap(redisClient(url), (client) => RedisRateLimiter.make(client, options))

describe("redis rate limiter - shared bucket", () => {
  it.scoped("two nodes draw from one bucket per key, and other keys are untouched", () =>
    Effect.gen(function* () {
      // One token per 100 s: nothing refills during the test.
      const options = { ratePerSec: 0.01, burst: 3, prefix: testPrefix() }
      const a = yield* limiter(inject("redisUrl"), options)
      const b = yield* limiter(inject("redisUrl"), options)
      yield* a.take("alice")
      yield* b.take("alice")
      yield* a.take("alice")
      const limited = yield* Effect.flip(b.take("alice"))
      expect(limited).toBeInstanceOf(RateLimited)
      expect(limited.retryAfterMs).toBeGreaterThan(99_000)
      expect(limited.retryAfterMs).toBeLessThanOrEqual(100_000)
      yield* Effect.flip(a.take("alice"))
      yield* b.take("bob")
      expect(yield* a.status).toBe("ok")
    })
  )

  it.scopedLive("refills at the configured rate: a caller that waits the advertised time gets its token", () =>
    Effect.gen(function* () {
      // 500 ms per token: far more than the scheduling delays between these calls on a busy machine.
      const a = yield* limiter(inject("redisUrl"), { ratePerSec: 2, burst: 2, prefix: testPrefix() })
      yield* a.take("alice")
      yield* a.take("alice")
      const limited = yield* Effect.flip(a.take("alice"))
      expect(limited.retryAfterMs).toBeGreaterThan(0)
      expect(limited.retryAfterMs).toBeLessThanOrEqual(500)
      // Waiting out retryAfterMs is the behaviour under test; the refill runs on Redis's clock.
      yield* Effect.sleep(limited.retryAfterMs)
      yield* a.take("alice")
      yield* Effect.flip(a.take("alice"))
    })
  )

  it.scoped("keeps a bucket's key only until it would be full again", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const client = yield* redisClient(inject("redisUrl"))
      const a = yield* RedisRateLimiter.make(client, { ratePerSec: 1, burst: 5, prefix })
      yield* a.take("alice")
      // One token short at 1 per second: full again within a second.
      const ttl = (yield* client.call("PTTL", [`${prefix}rate:alice`])) as number
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(1_000)
    })
  )
})

describe("redis rate limiter - plain answers (tryTake) for the send path", () => {
  it.scoped("decides a key it has seen from its bucket, and the tokens it took reach the shared bucket", () =>
    Effect.gen(function* () {
      // One token per 100 s: nothing refills during the test.
      const options = { ratePerSec: 0.01, burst: 5, prefix: testPrefix(), syncMs: 60_000 }
      const a = yield* limiter(inject("redisUrl"), options)
      const b = yield* limiter(inject("redisUrl"), options)
      // Not seen here: no answer without I/O; the first token comes from Redis and seeds the bucket.
      expect(a.tryTake!("alice")).toBe(false)
      yield* a.take("alice")
      expect(a.tryTake!("alice")).toBeUndefined()
      expect(a.tryTake!("alice")).toBeUndefined()
      expect(a.tryTake!("alice")).toBeUndefined()
      // Five taken in all, three of them not yet in Redis: the other node still sees four left.
      yield* b.take("alice")
      yield* a.flush
      // The shared bucket: 5 - 1 (a) - 1 (b) - 3 (a's flush) = 0.
      const limited = yield* Effect.flip(b.take("alice"))
      expect(limited).toBeInstanceOf(RateLimited)
      // a learned the shared level at its flush (0 left, b's take included): it refuses too.
      const refused = a.tryTake!("alice")
      expect(refused).toBeInstanceOf(RateLimited)
      expect((refused as RateLimited).retryAfterMs).toBeGreaterThan(99_000)
      expect(a.tryTake!("bob")).toBe(false)
    })
  )

  it.scoped("a node that admitted beyond the shared level learns it at the sync and refuses until the debt is paid", () =>
    Effect.gen(function* () {
      const options = { ratePerSec: 0.01, burst: 2, prefix: testPrefix(), syncMs: 60_000 }
      const a = yield* limiter(inject("redisUrl"), options)
      const b = yield* limiter(inject("redisUrl"), options)
      yield* a.take("alice") // shared: 1 left; a's bucket: 1
      yield* b.take("alice") // shared: 0 left; b's bucket: 0
      // a has not heard of b's take: it admits one more, within its sync interval.
      expect(a.tryTake!("alice")).toBeUndefined()
      yield* a.flush // shared: -1
      const refused = a.tryTake!("alice")
      expect(refused).toBeInstanceOf(RateLimited)
      // Two tokens short at 1 per 100 s.
      expect((refused as RateLimited).retryAfterMs).toBeGreaterThan(199_000)
      expect(yield* Effect.flip(b.take("alice"))).toBeInstanceOf(RateLimited)
    })
  )

  it.scoped("closing the scope consumes what was taken without I/O", () =>
    Effect.gen(function* () {
      const options = { ratePerSec: 0.01, burst: 3, prefix: testPrefix(), syncMs: 60_000 }
      const b = yield* limiter(inject("redisUrl"), options)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const a = yield* limiter(inject("redisUrl"), options)
          yield* a.take("alice")
          expect(a.tryTake!("alice")).toBeUndefined()
        })
      )
      yield* b.take("alice")
      expect(yield* Effect.flip(b.take("alice"))).toBeInstanceOf(RateLimited)
    })
  )
})

describe("redis rate limiter - Redis down", () => {
  it.scoped("enforces limits per node while Redis is down, reports degraded, and goes back to Redis after it restarts", () =>
    Effect.gen(function* () {
      const redis = yield* Effect.acquireRelease(Effect.promise(startRedis), (r) => Effect.promise(r.stop))
      const logs = captureLogs()
      const client = yield* redisClient(redis.url)
      const a = yield* RedisRateLimiter.make(client, { ratePerSec: 0.01, burst: 2, prefix: testPrefix(), probeIntervalMs: 0 })
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.provide(effect, logs.layer)

      yield* run(a.take("alice"))
      yield* run(a.take("alice"))
      yield* Effect.flip(run(a.take("alice")))
      yield* run(a.take("bob"))
      yield* Effect.promise(redis.stop)

      // The local buckets go on from the shared levels Redis last answered (alice had none
      // left, bob one); a key Redis never answered for starts full.
      const limited = yield* Effect.flip(run(a.take("alice")))
      expect(limited).toBeInstanceOf(RateLimited)
      yield* run(a.take("bob"))
      yield* Effect.flip(run(a.take("bob")))
      yield* run(a.take("carol"))
      yield* run(a.take("carol"))
      yield* Effect.flip(run(a.take("carol")))
      expect(yield* a.status).toBe("degraded")
      // A probe is due at every call (interval 0): the plain path leaves it to `take`.
      expect(a.tryTake!("alice")).toBe(false)
      expect(logs.count("rate limiter: Redis unavailable")).toBe(1)

      yield* Effect.promise(redis.restart)
      yield* client.awaitReady
      // The restarted Redis is empty: a full shared bucket again.
      yield* run(a.take("alice"))
      expect(yield* a.status).toBe("ok")
      yield* run(a.take("alice"))
      yield* Effect.flip(run(a.take("alice")))
      expect(logs.count("rate limiter: Redis available again")).toBe(1)
      expect(logs.count("rate limiter: Redis unavailable")).toBe(1)
    })
  )

  it.scoped("while degraded, tries Redis again only once the probe interval has passed", () =>
    Effect.gen(function* () {
      const redis = yield* Effect.acquireRelease(Effect.promise(startRedis), (r) => Effect.promise(r.stop))
      const client = yield* redisClient(redis.url)
      // The test clock stands still: with a 1 s interval, no probe is due after the first failure.
      const a = yield* RedisRateLimiter.make(client, { ratePerSec: 0.01, burst: 5, prefix: testPrefix(), probeIntervalMs: 1_000 })
      yield* Effect.promise(redis.stop)
      yield* a.take("alice")
      expect(yield* a.status).toBe("degraded")
      // No probe due: the plain path decides per node, from the bucket the fallback keeps (4 of 5 left).
      for (let i = 0; i < 3; i++) expect(a.tryTake!("alice")).toBeUndefined()
      yield* Effect.promise(redis.restart)
      yield* client.awaitReady
      yield* a.take("alice")
      expect(yield* a.status).toBe("degraded")
      yield* TestClock.adjust("1 second")
      yield* a.take("alice")
      expect(yield* a.status).toBe("ok")
    })
  )
})
