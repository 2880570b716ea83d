/**
 * The SendLimiter shared by every node: one token bucket per key in Redis, taken by an
 * atomic Lua script. The script reads the time from Redis (`TIME`), so the nodes' clocks
 * do not matter. While Redis cannot be reached the limiter keeps enforcing the same limits
 * per node with the in-process bucket (a user spread over n nodes then gets up to n times
 * the rate), reports "degraded", and goes back to Redis once it answers again.
 *
 * The WebSocket send path asks without I/O (`tryTake`): a key this node has taken from
 * Redis lately is decided by its local bucket, which mirrors the shared one, and the tokens
 * taken that way are consumed from the shared bucket in one script call per `syncMs`
 * (default 100 ms) for all keys, whose answer sets each local bucket to the shared level.
 * A key this node has not seen (or whose bucket filled up and was dropped) is not decided
 * here: the caller takes its first token through Redis (`take`), which seeds the bucket. So
 * a user whose sends reach one node is limited as configured; one sending through several
 * nodes at once can get, beyond the limit, what the other nodes admit in one sync interval
 * before their buckets learn the shared level.
 */
import { Clock, Effect, Either, FiberSet, Layer, type Scope } from "effect"
import { RateLimited } from "../../core/errors.ts"
import { makeLocal, SendLimiterTag, type BucketOptions, type SendLimiter } from "../chat/RateLimiter.ts"
import { defineScript, RedisClientTag, RedisError, type RedisClient } from "./RedisClient.ts"

export type LimiterStatus = "ok" | "degraded"

export interface RedisSendLimiter extends SendLimiter {
  readonly status: Effect.Effect<LimiterStatus>
  /** Consumes from the shared buckets, now, what `tryTake` took (also done when the scope closes). */
  readonly flush: Effect.Effect<void>
}

export interface RedisLimiterOptions extends Omit<BucketOptions, "now"> {
  /** Key prefix shared by the cluster's nodes; default "chat:". */
  readonly prefix?: string
  /** While degraded, at most one call per this many milliseconds tries Redis again; default 1000. */
  readonly probeIntervalMs?: number
  /** How often tokens taken without I/O are consumed from the shared buckets; default 100 ms. */
  readonly syncMs?: number
}

/**
 * What both scripts share: ARGV[1] and ARGV[2] are tokens per second and burst; a bucket is
 * a hash { tokens, at } with `at` in milliseconds of the Redis clock (`TIME`), so the nodes'
 * clocks do not matter. `loadBucket` refills a bucket up to now, `storeBucket` writes it back.
 */
const bucketFunctions = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local function loadBucket(key)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  -- A clock that stepped back refills nothing rather than a negative amount.
  if now > at then
    tokens = math.min(burst, tokens + (now - at) * rate / 1000)
    at = now
  end
  return tokens, at
end
local function storeBucket(key, tokens, at)
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', at))
  -- The key lives until the bucket would be full again: a full bucket holds no information.
  redis.call('PEXPIRE', key, math.max(1, math.ceil((burst - tokens) * 1000 / rate)))
end
`

/**
 * KEYS[1]: the bucket. Answers { 1, 0, level } when a token was taken, else
 * { 0, milliseconds until one is available, level }; the level after the call is text
 * (a Lua number would reach the client truncated to an integer).
 */
const take = defineScript(
  "rate-limit-take",
  `${bucketFunctions}
local tokens, at = loadBucket(KEYS[1])
local taken, retry = 0, 0
-- The epsilon absorbs float error, so a caller that waited the advertised time gets its token.
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  taken = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
storeBucket(KEYS[1], tokens, at)
return { taken, retry, string.format('%.17g', tokens) }
`
)

/**
 * KEYS: buckets; ARGV[3..]: the tokens to consume from each key, in KEYS order (taken
 * already by a node's local bucket). Consumes down to at most one burst below zero (a user
 * who overdrew waits it out), and answers each bucket's level after, as text.
 */
const consume = defineScript(
  "rate-limit-consume",
  `${bucketFunctions}
local levels = {}
for i, key in ipairs(KEYS) do
  local tokens, at = loadBucket(key)
  tokens = math.max(-burst, tokens - tonumber(ARGV[2 + i]))
  storeBucket(key, tokens, at)
  levels[i] = string.format('%.17g', tokens)
end
return levels
`
)

const decode = (reply: unknown): { taken: boolean; retryAfterMs: number; tokens: number } | undefined => {
  if (!Array.isArray(reply) || typeof reply[0] !== "number" || typeof reply[1] !== "number") return undefined
  const tokens = Number(reply[2])
  return Number.isFinite(tokens) ? { taken: reply[0] === 1, retryAfterMs: reply[1], tokens } : undefined
}

const decodeLevels = (reply: unknown, count: number): ReadonlyArray<number> | undefined => {
  if (!Array.isArray(reply) || reply.length !== count) return undefined
  const levels = reply.map(Number)
  return levels.every(Number.isFinite) ? levels : undefined
}

/** Keys per consume call: one call holds Redis for its length, so a crowd of users is split. */
const CONSUME_CHUNK = 500

export const make = (client: RedisClient, options: RedisLimiterOptions): Effect.Effect<RedisSendLimiter, never, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = options.prefix ?? "chat:"
    const probeIntervalMs = options.probeIntervalMs ?? 1_000
    const syncMs = options.syncMs ?? 100
    const local = makeLocal({ ratePerSec: options.ratePerSec, burst: options.burst })
    let status: LimiterStatus = "ok"
    let probeAt = 0
    // Tokens taken by `tryTake` and not yet consumed from the shared buckets, per key.
    let unsynced = new Map<string, number>()
    let syncTimer: ReturnType<typeof setTimeout> | undefined
    const runSync = yield* FiberSet.makeRuntime<never>()
    const clock = yield* Effect.clock

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

    /** Consumes what `tryTake` took from the shared buckets; each answer sets its local bucket. */
    const sync = Effect.suspend(() => {
      syncTimer = undefined
      const batch = [...unsynced]
      unsynced = new Map()
      return Effect.forEach(
        Array.from({ length: Math.ceil(batch.length / CONSUME_CHUNK) }, (_, i) => batch.slice(i * CONSUME_CHUNK, (i + 1) * CONSUME_CHUNK)),
        (chunk) =>
          client
            .evalScript(
              consume,
              chunk.map(([key]) => `${prefix}rate:${key}`),
              [options.ratePerSec, options.burst, ...chunk.map(([, n]) => n)]
            )
            .pipe(
              Effect.flatMap((reply) => {
                const levels = decodeLevels(reply, chunk.length)
                if (levels === undefined) {
                  return Effect.fail(new RedisError({ operation: consume.name, cause: `unexpected reply ${JSON.stringify(reply)}` }))
                }
                // Less what was taken here since the snapshot: those reach Redis with the next sync.
                chunk.forEach(([key], i) => local.set(key, levels[i] - (unsynced.get(key) ?? 0)))
                return recover
              })
            ),
        { discard: true }
      )
    }).pipe(Effect.catchAll(degrade))

    /**
     * The plain answer: from the local bucket while it mirrors the shared one (or while Redis
     * is down and no probe is due); `false` (ask `take`) for a key not seen here, or for the probe.
     */
    const tryTake = (key: string): RateLimited | undefined | false => {
      if (status === "degraded") return clock.unsafeCurrentTimeMillis() < probeAt ? local.tryTake(key) : false
      if (!local.has(key)) return false
      const refused = local.tryTake(key)
      if (refused !== undefined) return refused
      unsynced.set(key, (unsynced.get(key) ?? 0) + 1)
      syncTimer ??= setTimeout(() => runSync(sync), syncMs)
      return undefined
    }

    const flush = Effect.suspend(() => {
      clearTimeout(syncTimer)
      return unsynced.size === 0 ? Effect.void : sync
    })
    // Added after the FiberSet: runs before it interrupts a sync in flight.
    yield* Effect.addFinalizer(() => flush)

    return {
      status: Effect.sync(() => status),
      flush,
      tryTake,
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
          // The shared level, for `tryTake` (less what it took here meanwhile, not consumed yet).
          local.set(key, result.right.tokens - (unsynced.get(key) ?? 0))
          if (!result.right.taken) {
            return yield* new RateLimited({ message: "too many writes; slow down", retryAfterMs: result.right.retryAfterMs })
          }
        })
    }
  })

export const layer = (options: RedisLimiterOptions): Layer.Layer<SendLimiterTag, never, RedisClientTag> =>
  Layer.scoped(SendLimiterTag, Effect.flatMap(RedisClientTag, (client) => make(client, options)))
