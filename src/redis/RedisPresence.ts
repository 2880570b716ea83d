/**
 * Presence shared by the cluster's nodes through Redis (scripts and data layout:
 * internal/presenceScripts.ts). Each node writes only its own fields, each with an expiry,
 * and refreshes them every `heartbeatMs`; the fields of a node that crashed expire after
 * `ttlMs` and are pruned by whoever reads them, and its keys expire on their own.
 *
 * This node's counts (PresenceCounts) are the truth about this node: Redis is written only
 * when a count moves between zero and non-zero (and socket counts, for operators). When
 * Redis fails, the methods answer from those counts, status turns "stale", and Redis is
 * left alone until the heartbeat manages a full resync: leaves that happened meanwhile are
 * removed, every live entry is written again.
 *
 * Keys (under `prefix`): `presence:{<room>}:user:<user>` (entry hash),
 * `presence:{<room>}:users` (members set), `presence:user:{<user>}` (user hash). The braces
 * keep a room's keys in one Redis Cluster slot; the per-user queries span slots, so this
 * needs a single Redis (with replicas or Sentinel), not Redis Cluster.
 */
import { Effect, Layer, type Scope } from "effect"
import type { RoomId, UserId } from "../../core/model.ts"
import { PresenceTag, type Presence, type PresenceStatus } from "../chat/Presence.ts"
import { makePresenceCounts } from "../chat/PresenceCounts.ts"
import { makeKeyedLock } from "./internal/keyedLock.ts"
import * as Scripts from "./internal/presenceScripts.ts"
import { RedisClientTag, RedisError, type LuaScript, type RedisArg, type RedisClient } from "./RedisClient.ts"

export interface RedisPresenceOptions {
  /** This node's id (CHAT_NODE_ID): the field name of its entries. */
  readonly nodeId: string
  /** Key prefix shared by the cluster's nodes; default "chat:". */
  readonly prefix?: string
  /** Milliseconds an entry lives without a refresh: how long a crashed node's users stay online; default 15000. */
  readonly ttlMs?: number
  /** Milliseconds between refreshes of this node's entries; default 5000 (a third of the TTL). */
  readonly heartbeatMs?: number
}

export interface RedisPresence extends Presence {
  /**
   * The heartbeat's work, now: refresh this node's entries, or after an outage resync them
   * (status back to "ok" when that succeeds). Runs by itself every `heartbeatMs`.
   */
  readonly heartbeat: Effect.Effect<void>
}

/** Entries per script call: bounds the work one script does while Redis serves nobody else. */
const BATCH = 200

const chunks = <A>(items: ReadonlyArray<A>): ReadonlyArray<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / BATCH) }, (_, i) => items.slice(i * BATCH, (i + 1) * BATCH))

type RoomEntry = readonly [RoomId, UserId]

export const make = (client: RedisClient, options: RedisPresenceOptions): Effect.Effect<RedisPresence, never, Scope.Scope> =>
  Effect.gen(function* () {
    const node = options.nodeId
    const prefix = options.prefix ?? "chat:"
    const ttlMs = options.ttlMs ?? 15_000
    const heartbeatMs = options.heartbeatMs ?? 5_000
    const entryKey = (room: RoomId, user: UserId) => `${prefix}presence:{${room}}:user:${user}`
    const membersKey = (room: RoomId) => `${prefix}presence:{${room}}:users`
    const userKey = (user: UserId) => `${prefix}presence:user:{${user}}`

    const counts = makePresenceCounts()
    const lock = makeKeyedLock()
    const heartbeatLock = yield* Effect.makeSemaphore(1)
    // `useRedis` routes the methods; `status` is what was last announced (and logged).
    let useRedis = true
    let status: PresenceStatus = "ok"
    // Transitions to zero that Redis missed while unreachable, removed on resync.
    const missedLeaves = new Map<string, RoomEntry>()
    const missedDisconnects = new Set<UserId>()

    const goStale = (e: RedisError) =>
      Effect.suspend(() => {
        useRedis = false
        if (status === "stale") return Effect.void
        status = "stale"
        return Effect.logWarning("presence: Redis unavailable; answering from this node until it is back").pipe(
          Effect.annotateLogs({ error: e.message })
        )
      })

    /** Runs a batch script over `items` (in chunks), answering its flags in order. */
    const batch = <A>(
      script: LuaScript,
      items: ReadonlyArray<A>,
      keysOf: (a: A) => ReadonlyArray<string>,
      fixed: ReadonlyArray<RedisArg>,
      argOf: (a: A) => ReadonlyArray<RedisArg>
    ): Effect.Effect<ReadonlyArray<boolean>, RedisError> =>
      Effect.forEach(chunks(items), (chunk) =>
        client.evalScript(script, chunk.flatMap(keysOf), [...fixed, ...chunk.flatMap(argOf)]).pipe(
          Effect.flatMap((reply) =>
            Array.isArray(reply) && reply.length === chunk.length && reply.every((f) => f === 0 || f === 1)
              ? Effect.succeed(reply.map((f) => f === 1))
              : Effect.fail(new RedisError({ operation: script.name, cause: `unexpected reply ${JSON.stringify(reply)}` }))
          )
        )
      ).pipe(Effect.map((flags) => flags.flat()))

    const roomKeys = ([room, user]: RoomEntry) => [entryKey(room, user), membersKey(room)]
    const putRooms = (entries: ReadonlyArray<RoomEntry>) =>
      batch(Scripts.putRoomEntries, entries, roomKeys, [node, ttlMs], ([, user]) => [user])
    const removeRooms = (entries: ReadonlyArray<RoomEntry>) =>
      batch(Scripts.removeRoomEntries, entries, roomKeys, [node], ([, user]) => [user])
    const putUsers = (entries: ReadonlyArray<readonly [UserId, number]>) =>
      batch(Scripts.putUserEntries, entries, ([user]) => [userKey(user)], [node, ttlMs], ([, sockets]) => [sockets])
    const removeUsers = (users: ReadonlyArray<UserId>) =>
      batch(Scripts.removeUserEntries, users, (user) => [userKey(user)], [node], () => [])

    /** Redis's answer; on failure (or while stale) this node's answer, and status stale. */
    const orLocal = <A>(viaRedis: Effect.Effect<A, RedisError>, local: () => A): Effect.Effect<A> =>
      Effect.suspend(() =>
        useRedis
          ? viaRedis.pipe(Effect.catchAll((e) => Effect.zipRight(goStale(e), Effect.sync(local))))
          : Effect.sync(local)
      )

    const join = (room: RoomId, user: UserId) =>
      lock(
        entryKey(room, user),
        Effect.suspend(() => {
          if (counts.join(room, user) > 0) return Effect.succeed(false)
          missedLeaves.delete(entryKey(room, user))
          return orLocal(Effect.map(putRooms([[room, user]]), ([first]) => first), () => true)
        })
      )

    const leave = (room: RoomId, user: UserId) =>
      lock(
        entryKey(room, user),
        Effect.suspend(() => {
          if (counts.leave(room, user) !== 1) return Effect.succeed(false)
          return orLocal(Effect.map(removeRooms([[room, user]]), ([last]) => last), () => {
            missedLeaves.set(entryKey(room, user), [room, user])
            return true
          })
        })
      )

    const connected = (user: UserId) =>
      lock(
        userKey(user),
        Effect.suspend(() => {
          const first = counts.connect(user) === 0
          missedDisconnects.delete(user)
          return orLocal(Effect.map(putUsers([[user, counts.sockets(user)]]), ([none]) => first && none), () => first)
        })
      )

    const disconnected = (user: UserId) =>
      lock(
        userKey(user),
        Effect.suspend(() => {
          const before = counts.disconnect(user)
          if (before === 0) return Effect.succeed(false)
          if (before > 1) return orLocal(Effect.as(putUsers([[user, before - 1]]), false), () => false)
          return orLocal(Effect.map(removeUsers([user]), ([last]) => last), () => {
            missedDisconnects.add(user)
            return true
          })
        })
      )

    // Read-only (expired fields are skipped, not pruned): a reader per WebSocket upgrade.
    const sockets = (user: UserId) =>
      orLocal(
        Effect.map(client.evalScript(Scripts.userSockets, [userKey(user)], []), (n) => (typeof n === "number" ? n : 0)),
        () => counts.sockets(user)
      )

    const online = (room: RoomId) =>
      orLocal(
        client.call("SMEMBERS", [membersKey(room)]).pipe(
          Effect.flatMap((members) =>
            Effect.forEach(chunks(Array.isArray(members) ? (members as Array<UserId>) : []), (users) =>
              client.evalScript(Scripts.liveRoomMembers, [membersKey(room), ...users.map((u) => entryKey(room, u))], users)
            )
          ),
          Effect.map((lists) => lists.flatMap((live) => (Array.isArray(live) ? (live as Array<UserId>) : [])))
        ),
        () => counts.usersIn(room)
      )

    const onlineUsers = (users: ReadonlyArray<UserId>) => {
      const distinct = [...new Set(users)]
      return orLocal(
        Effect.map(
          batch(Scripts.liveUsers, distinct, (user) => [userKey(user)], [], () => []),
          (live) => new Set(distinct.filter((_, i) => live[i]))
        ),
        () => new Set(distinct.filter((user) => counts.sockets(user) > 0))
      )
    }

    // A removal that ran while a refresh was in flight may have been undone by it: remove
    // again what this node no longer holds, each under its lock so a concurrent join wins.
    const removeIfGone = (rooms: ReadonlyArray<RoomEntry>, users: ReadonlyArray<UserId>) =>
      Effect.zipRight(
        Effect.forEach(
          rooms.filter(([room, user]) => counts.subscriptions(room, user) === 0),
          ([room, user]) =>
            lock(
              entryKey(room, user),
              Effect.suspend(() => (counts.subscriptions(room, user) === 0 ? removeRooms([[room, user]]) : Effect.void))
            ),
          { concurrency: 16, discard: true }
        ),
        Effect.forEach(
          users.filter((user) => counts.sockets(user) === 0),
          (user) => lock(userKey(user), Effect.suspend(() => (counts.sockets(user) === 0 ? removeUsers([user]) : Effect.void))),
          { concurrency: 16, discard: true }
        )
      )

    const resync = Effect.gen(function* () {
      const leaves = [...missedLeaves.values()]
      const disconnects = [...missedDisconnects]
      missedLeaves.clear()
      missedDisconnects.clear()
      yield* removeIfGone(leaves, disconnects).pipe(
        // Not removed after all: keep them for the next attempt (unless rejoined meanwhile).
        Effect.tapError(() =>
          Effect.sync(() => {
            for (const [room, user] of leaves) {
              if (counts.subscriptions(room, user) === 0) missedLeaves.set(entryKey(room, user), [room, user])
            }
            for (const user of disconnects) if (counts.sockets(user) === 0) missedDisconnects.add(user)
          })
        )
      )
      const rooms = counts.roomEntries()
      const users = counts.userEntries()
      yield* putRooms(rooms)
      yield* putUsers(users)
      yield* removeIfGone(rooms, users.map(([user]) => user))
    })

    const heartbeat: Effect.Effect<void> = heartbeatLock.withPermits(1)(
      Effect.gen(function* () {
        // Methods go to Redis again from now on, so that what happens during the resync reaches it.
        useRedis = true
        const result = yield* Effect.either(resync)
        if (result._tag === "Left") return yield* goStale(result.left)
        if (status === "stale") {
          status = "ok"
          yield* Effect.logInfo("presence: Redis available again; this node's entries are resynced")
        }
      })
    )

    // On a clean shutdown this node's users leave at once instead of after the TTL.
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        removeRooms(counts.roomEntries()),
        removeUsers(counts.userEntries().map(([user]) => user))
      ).pipe(Effect.timeout("2 seconds"), Effect.ignore)
    )
    yield* Effect.sleep(heartbeatMs).pipe(Effect.zipRight(heartbeat), Effect.forever, Effect.forkScoped)

    return {
      join,
      leave,
      online,
      onlineUsers,
      connected,
      disconnected,
      sockets,
      connectedHere: (user: UserId) => counts.sockets(user) > 0,
      status: Effect.sync(() => status),
      heartbeat
    }
  })

export const layer = (options: RedisPresenceOptions): Layer.Layer<PresenceTag, never, RedisClientTag> =>
  Layer.scoped(PresenceTag, Effect.flatMap(RedisClientTag, (client) => make(client, options)))
