/**
 * Tokens that passed verification, so a client sending the same bearer token on every REST
 * request pays for the signature check (an HMAC or RSA/EC verify through WebCrypto, a key
 * import and several promise hops) once, not on each request.
 *
 * Correctness: only successes are cached, keyed by the whole token string, so a token that
 * differs in any byte (another signature, altered claims) is verified on its own. An entry
 * is used only before the token's `exp` (without the clock tolerance the verifier allows:
 * after `exp` the verifier decides again), and at most `maxAgeMs` after it was verified, so
 * a signing key withdrawn from a JWKS stops being honoured about as soon as jose's own JWKS
 * cache (10 minutes) would notice. Nothing here ever logs or exposes a token.
 *
 * Bounded: `capacity` entries, least recently used evicted first, and tokens longer than
 * `maxTokenChars` are never cached, so the cache holds at most capacity × maxTokenChars
 * characters (8 MiB with the defaults).
 */
import { Clock, Effect } from "effect"
import { BoundedMap } from "../../core/util/BoundedMap.ts"
import type { Unauthorized } from "../../core/errors.ts"
import type { UserId } from "../../core/model.ts"

/** What a successful verification tells the cache. */
export interface Verified {
  readonly user: UserId
  /** The token's `exp` claim, in seconds since the epoch. */
  readonly exp: number
}

export interface TokenCacheOptions {
  /** Tokens kept; default 4096. */
  readonly capacity?: number
  /** Longer tokens are verified every time; default 2048 (real tokens are well under 2 KiB). */
  readonly maxTokenChars?: number
  /** An entry is trusted at most this long after its verification; default 5 minutes. */
  readonly maxAgeMs?: number
}

export const DEFAULT_CAPACITY = 4096
export const DEFAULT_MAX_TOKEN_CHARS = 2048
export const DEFAULT_MAX_AGE_MS = 5 * 60_000

/** A verifier with its cache: `peek` answers a cached token without an Effect (undefined: ask `verify`). */
export interface CachedVerifier {
  readonly verify: (token: string) => Effect.Effect<UserId, Unauthorized>
  /**
   * The user of a token verified before and still trusted, by the wall clock (`verify`
   * reads Effect's Clock: under a test clock entries look expired here, a miss).
   */
  readonly peek: (token: string) => UserId | undefined
}

export const withTokenCache = (
  verify: (token: string) => Effect.Effect<Verified, Unauthorized>,
  options: TokenCacheOptions = {}
): CachedVerifier => {
  const maxTokenChars = options.maxTokenChars ?? DEFAULT_MAX_TOKEN_CHARS
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS
  // Value: the user, and the clock time (ms) until which the entry may be used.
  const entries = new BoundedMap<string, { readonly user: UserId; readonly until: number }>(
    options.capacity ?? DEFAULT_CAPACITY
  )
  const peek = (token: string): UserId | undefined => {
    const hit = entries.get(token)
    return hit !== undefined && Date.now() < hit.until ? hit.user : undefined
  }
  const cachedVerify = (token: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const hit = entries.get(token)
      if (hit !== undefined) {
        if (now < hit.until) return Effect.succeed(hit.user)
        entries.delete(token)
      }
      return Effect.map(verify(token), ({ exp, user }) => {
        const until = Math.min(exp * 1000, now + maxAgeMs)
        if (token.length <= maxTokenChars && now < until) entries.set(token, { user, until })
        return user
      })
    })
  return { verify: cachedVerify, peek }
}
