/**
 * The SendLimiter shared by every node: one token bucket per key in Redis, taken by an
 * atomic Lua script. The script reads the time from Redis (`TIME`), so the nodes' clocks
 * do not matter. While Redis cannot be reached the limiter keeps enforcing the same limits
 * per node with the in-process bucket (a user spread over n nodes then gets up to n times
 * the rate), reports "degraded", and goes back to Redis once it answers again.
 */
import { Clock, Effect, Either, Layer } from "effect"
import { RateLimited } from "../../core/errors.ts"
import { makeLocal, SendLimiterTag, type BucketOptions, type SendLimiter } from "../chat/RateLimiter.ts"
import { defineScript, RedisClientTag, RedisError, type RedisClient } from "./RedisClient.ts"

export type LimiterStatus = "ok" | "degraded"

export interface RedisSendLimiter extends SendLimiter {
  readonly status: Effect.Effect<LimiterStatus>
}

export interface RedisLimiterOptions extends Omit<BucketOptions, "now"> {
  /** Key prefix shared by the cluster's nodes; default "chat:". */
  readonly prefix?: string
  /** While degraded, at most one call per this many milliseconds tries Redis again; default 1000. */
  readonly probeIntervalMs?: number
}

/**
 * KEYS[1]: the bucket, a hash { tokens, at } with `at` in milliseconds of the Redis clock.
 * ARGV: tokens per second, burst. Answers { 1, 0 } when a token was taken, else
 * { 0, milliseconds until one is available }.
 */
const take = defineScript(
  "rate-limit-take",
  `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
-- A clock that stepped back refills nothing rather than a negative amount.
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local taken, retry = 0, 0
-- The epsilon absorbs float error, so a caller that waited the advertised time gets its token.
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  taken = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', at))
-- The key lives until the bucket would be full again: a full bucket holds no information.
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) * 1000 / rate)))
return { taken, retry }
`
)

const decode = (reply: unknown): { taken: boolean; retryAfterMs: number } | undefined =>
  Array.isArray(reply) && typeof reply[0] === "number" && typeof reply[1] === "number"
    ? { taken: reply[0] === 1, retryAfterMs: reply[1] }
    : undefined

export const make = (client: RedisClient, options: RedisLimiterOptions): Effect.Effect<RedisSendLimiter> =>
  Effect.sync(() => {
    const prefix = options.prefix ?? "chat:"
    const probeIntervalMs = options.probeIntervalMs ?? 1_000
    const local = makeLocal({ ratePerSec: options.ratePerSec, burst: options.burst })
    let status: LimiterStatus = "ok"
    let probeAt = 0

    const degrade = (e: RedisError) =>
      Effect.gen(function* () {
        probeAt = (yield* Clock.currentTimeMillis) + probeIntervalMs
        if (status === "degraded") return
        status = "degraded"
        yield* Effect.logWarning("rate limiter: Redis unavailable; enforcing limits per node until it is back").pipe(
          Effect.annotateLogs({ error: e.message })
        )
      })

    const recover = Effect.suspend(() => {
      if (status === "ok") return Effect.void
      status = "ok"
      return Effect.logInfo("rate limiter: Redis available again; limits are shared across nodes")
    })

    const viaRedis = (key: string) =>
      client.evalScript(take, [`${prefix}rate:${key}`], [options.ratePerSec, options.burst]).pipe(
        Effect.flatMap((reply) => {
          const r = decode(reply)
          return r === undefined
            ? Effect.fail(new RedisError({ operation: take.name, cause: `unexpected reply ${JSON.stringify(reply)}` }))
            : Effect.succeed(r)
        })
      )

    return {
      status: Effect.sync(() => status),
      take: (key) =>
        Effect.gen(function* () {
          if (status === "degraded") {
            const now = yield* Clock.currentTimeMillis
            if (now < probeAt) return yield* local.take(key)
            // This call is the probe; calls arriving meanwhile stay local.
            probeAt = now + probeIntervalMs
          }
          const result = yield* Effect.either(viaRedis(key))
          if (Either.isLeft(result)) {
            yield* degrade(result.left)
            return yield* local.take(key)
          }
          yield* recover
          if (!result.right.taken) {
            return yield* new RateLimited({ message: "too many writes; slow down", retryAfterMs: result.right.retryAfterMs })
          }
        })
    }
  })

export const layer = (options: RedisLimiterOptions): Layer.Layer<SendLimiterTag, never, RedisClientTag> =>
  Layer.effect(SendLimiterTag, Effect.flatMap(RedisClientTag, (client) => make(client, options)))
