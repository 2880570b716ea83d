/**
 * The MembershipCache shared by the cluster's nodes: one Redis hash per room (user ->
 * role) with a TTL, plus a field named "" that marks the hash as a complete member list
 * (user ids are never empty), so a user missing from a cached room is a cached
 * non-member. An invalidation deletes the hash and leaves a short hold key that makes
 * late puts of older member lists no-ops (see src/chat/MembershipCache.ts).
 *
 * Redis failures are misses, never errors. An invalidation that failed is remembered and
 * retried before the next use of the cache; until it succeeds the room is a miss on this
 * node, because the entry in Redis may be out of date.
 */
import { Effect, Either, Layer, Option } from "effect"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import { MembershipCacheTag, type CachedRole, type MembershipCache } from "../chat/MembershipCache.ts"
import { defineScript, RedisClientTag, type RedisClient, type RedisError } from "./RedisClient.ts"

export type CacheStatus = "ok" | "degraded"

export interface RedisMembershipCache extends MembershipCache {
  readonly status: Effect.Effect<CacheStatus>
}

export interface RedisCacheOptions {
  /** Key prefix shared by the cluster's nodes; default "chat:". */
  readonly prefix?: string
  /** Milliseconds a cached member list lives; default 30000. */
  readonly ttlMs?: number
  /** Milliseconds after an invalidation during which puts for the room are ignored; default 2000. */
  readonly holdMs?: number
}

const COMPLETE = ""
const ROLES: ReadonlySet<string> = new Set<Role>(["owner", "admin", "member"])

/** KEYS: members hash, hold key. ARGV: ttl, then user, role pairs. */
const put = defineScript(
  "membership-put",
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '', '1')
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`
)

/** KEYS: members hash, hold key. ARGV: hold ms. */
const invalidate = defineScript(
  "membership-invalidate",
  `
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1
`
)

export const make = (client: RedisClient, options: RedisCacheOptions = {}): Effect.Effect<RedisMembershipCache> =>
  Effect.sync(() => {
    const prefix = options.prefix ?? "chat:"
    const ttlMs = options.ttlMs ?? 30_000
    const holdMs = options.holdMs ?? 2_000
    const membersKey = (room: RoomId) => `${prefix}members:{${room}}`
    const holdKey = (room: RoomId) => `${prefix}members:{${room}}:hold`
    let status: CacheStatus = "ok"
    const unsent = new Set<RoomId>()

    const degrade = (e: RedisError) =>
      Effect.suspend(() => {
        if (status === "degraded") return Effect.void
        status = "degraded"
        return Effect.logWarning("membership cache: Redis unavailable; every lookup is a miss until it is back").pipe(
          Effect.annotateLogs({ error: e.message })
        )
      })

    const recover = Effect.suspend(() => {
      if (status === "ok") return Effect.void
      status = "ok"
      return Effect.logInfo("membership cache: Redis available again")
    })

    /** Runs `effect` against Redis; a failure degrades and answers `fallback`. */
    const attempt = <A>(effect: Effect.Effect<A, RedisError>, fallback: A): Effect.Effect<A> =>
      Effect.either(effect).pipe(
        Effect.flatMap((r) => (Either.isLeft(r) ? Effect.as(degrade(r.left), fallback) : Effect.as(recover, r.right)))
      )

    const sendInvalidation = (room: RoomId) =>
      client.evalScript(invalidate, [membersKey(room), holdKey(room)], [holdMs]).pipe(
        Effect.tap(() => Effect.sync(() => unsent.delete(room))),
        Effect.tapError(() => Effect.sync(() => unsent.add(room)))
      )

    /** Invalidations that failed earlier go first. */
    const flushUnsent = Effect.suspend(() =>
      unsent.size === 0 ? Effect.void : attempt(Effect.forEach([...unsent], sendInvalidation, { discard: true }), undefined)
    )

    const decode = (reply: unknown): Option.Option<CachedRole> => {
      if (!Array.isArray(reply) || reply[0] === null) return Option.none()
      if (reply[1] === null) return Option.some("none")
      return ROLES.has(reply[1]) ? Option.some(reply[1] as Role) : Option.none()
    }

    return {
      status: Effect.sync(() => status),
      get: (room, user) =>
        Effect.flatMap(flushUnsent, () =>
          unsent.has(room)
            ? Effect.succeed(Option.none())
            : attempt(Effect.map(client.call("HMGET", [membersKey(room), COMPLETE, user]), decode), Option.none())
        ),
      // While the room's invalidation is unsent, a put could not be told apart from a late one.
      put: (room, members) =>
        Effect.flatMap(flushUnsent, () =>
          unsent.has(room)
            ? Effect.void
            : attempt(
                Effect.asVoid(
                  client.evalScript(
                    put,
                    [membersKey(room), holdKey(room)],
                    [ttlMs, ...[...members].flatMap(([user, role]) => [user, role])]
                  )
                ),
                undefined
              )
        ),
      invalidate: (room) => Effect.flatMap(flushUnsent, () => attempt(sendInvalidation(room), undefined))
    }
  })

export const layer = (options?: RedisCacheOptions): Layer.Layer<MembershipCacheTag, never, RedisClientTag> =>
  Layer.effect(MembershipCacheTag, Effect.flatMap(RedisClientTag, (client) => make(client, options)))
