/**
 * A cache of room membership (user -> role), so that authorising a read or a typing
 * frame does not cost a store query. A cache, never the truth: a miss means "ask the
 * store"; failures of the cache itself are misses, never errors. `Some("none")` is a
 * cached answer too: the user is not a member.
 *
 * Whoever changes a room's members calls `invalidate` after the change is committed. A
 * reader that loaded the members before that change may try to `put` them just after it;
 * puts are therefore refused for `holdMs` after an invalidation (a slower reader is still
 * bounded by the TTL).
 *
 * The in-process implementation (bounded LRU with TTL) is here; the Redis one, shared by
 * the cluster's nodes, is src/redis/RedisMembershipCache.ts.
 */
import { Clock, Context, Effect, Option } from "effect"
import type { Role, RoomId, UserId } from "../../core/model.ts"

export type CachedRole = Role | "none"

export interface MembershipCache {
  readonly get: (room: RoomId, user: UserId) => Effect.Effect<Option.Option<CachedRole>>
  /** The room's complete member list, as the store has it. */
  readonly put: (room: RoomId, members: ReadonlyMap<UserId, Role>) => Effect.Effect<void>
  readonly invalidate: (room: RoomId) => Effect.Effect<void>
  /**
   * `get` without an Effect, where the answer needs no I/O (the in-process cache): undefined
   * is a miss. Timed by the wall clock (`get` by Effect's Clock): a test clock's entries
   * look expired here, which is a miss, never a wrong answer.
   */
  readonly peek?: (room: RoomId, user: UserId) => CachedRole | undefined
}

export class MembershipCacheTag extends Context.Tag("chat/MembershipCache")<MembershipCacheTag, MembershipCache>() {}

export interface LocalCacheOptions {
  /** Rooms kept; the least recently used goes first. Default 10000. */
  readonly maxRooms?: number
  /** Milliseconds an entry is trusted; default 30000. */
  readonly ttlMs?: number
  /** Milliseconds after an invalidation during which puts for the room are ignored; default 2000. */
  readonly holdMs?: number
}

export const makeLocal = (options: LocalCacheOptions = {}): MembershipCache => {
  const maxRooms = options.maxRooms ?? 10_000
  const ttlMs = options.ttlMs ?? 30_000
  const holdMs = options.holdMs ?? 2_000
  // Map iteration order is insertion order: re-inserting on use makes the first key the LRU.
  const rooms = new Map<RoomId, { readonly members: ReadonlyMap<UserId, Role>; readonly until: number }>()
  const held = new Map<RoomId, number>()

  return {
    peek: (room, user) => {
      const entry = rooms.get(room)
      if (entry === undefined || entry.until <= Date.now()) return undefined
      rooms.delete(room)
      rooms.set(room, entry)
      return entry.members.get(user) ?? "none"
    },
    get: (room, user) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = rooms.get(room)
        if (entry === undefined) return Option.none()
        rooms.delete(room)
        if (entry.until <= now) return Option.none()
        rooms.set(room, entry)
        return Option.some(entry.members.get(user) ?? "none")
      }),
    put: (room, members) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const hold = held.get(room)
        if (hold !== undefined) {
          if (hold > now) return
          held.delete(room)
        }
        rooms.delete(room)
        rooms.set(room, { members: new Map(members), until: now + ttlMs })
        while (rooms.size > maxRooms) rooms.delete(rooms.keys().next().value!)
      }),
    invalidate: (room) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        rooms.delete(room)
        held.set(room, now + holdMs)
        // Holds are short-lived; sweep the passed ones so the map stays small.
        if (held.size > maxRooms) for (const [r, until] of held) if (until <= now) held.delete(r)
      })
  }
}

