/**
 * Per-user token bucket for writes. Effect's RateLimiter delays callers; a chat client
 * needs an immediate `rate_limited` with retryAfterMs instead, so the bucket is written
 * here (a few lines). The clustered mode swaps in a Redis-backed limiter behind the Tag.
 */
import { Context, Effect, Layer } from "effect"
import { RateLimited } from "../../core/errors.ts"

export interface SendLimiter {
  /** Take one token for `key`, or fail with the time until one is available. */
  readonly take: (key: string) => Effect.Effect<void, RateLimited>
  /**
   * The same as plain code, where the limiter can decide without I/O: undefined when a
   * token was taken, the refusal, or `false` when it cannot decide now (nothing was taken;
   * the caller then uses `take`).
   */
  readonly tryTake?: (key: string) => RateLimited | undefined | false
}

/** The in-memory buckets, with what the shared (Redis) limiter needs to keep them in step with its own. */
export interface LocalBuckets extends SendLimiter {
  readonly tryTake: (key: string) => RateLimited | undefined
  /** Whether `key` has a bucket here (a key without one starts full). */
  readonly has: (key: string) => boolean
  /** Sets `key`'s bucket to `tokens` as of now (at most the burst). */
  readonly set: (key: string, tokens: number) => void
}

export class SendLimiterTag extends Context.Tag("chat/SendLimiter")<SendLimiterTag, SendLimiter>() {}

export interface BucketOptions {
  /** Tokens added per second. */
  readonly ratePerSec: number
  /** Bucket size: how many writes may come at once after a quiet period. */
  readonly burst: number
  readonly now?: () => number
}

export const makeLocal = (o: BucketOptions): LocalBuckets => {
  const now = o.now ?? Date.now
  const buckets = new Map<string, { tokens: number; at: number }>()
  let sweepAt = now()
  const tryTake = (key: string): RateLimited | undefined => {
    const t = now()
    // Drop buckets that have refilled completely: they hold no information.
    if (t - sweepAt > 60_000) {
      sweepAt = t
      for (const [k, b] of buckets) if (b.tokens + ((t - b.at) / 1000) * o.ratePerSec >= o.burst) buckets.delete(k)
    }
    let b = buckets.get(key)
    if (b === undefined) {
      b = { tokens: o.burst, at: t }
      buckets.set(key, b)
    }
    b.tokens = Math.min(o.burst, b.tokens + ((t - b.at) / 1000) * o.ratePerSec)
    b.at = t
    if (b.tokens >= 1) {
      b.tokens -= 1
      return undefined
    }
    const retryAfterMs = Math.ceil(((1 - b.tokens) / o.ratePerSec) * 1000)
    return new RateLimited({ message: "too many writes; slow down", retryAfterMs })
  }
  return {
    take: (key) =>
      Effect.suspend(() => {
        const limited = tryTake(key)
        return limited === undefined ? Effect.void : Effect.fail(limited)
      }),
    tryTake,
    has: (key) => buckets.has(key),
    set: (key, tokens) => void buckets.set(key, { tokens: Math.min(o.burst, tokens), at: now() })
  }
}

export const layerLocal = (o: BucketOptions) => Layer.sync(SendLimiterTag, () => makeLocal(o))
