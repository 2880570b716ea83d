/**
 * The ChatStore over SQL, shared by PostgreSQL and PGlite: the same statements
 * (./queries.ts), the same row mapping (./rows.ts), the same commit (./commit.ts). A driver
 * only supplies a SqlDatabase. Every driver rejection becomes a StoreError here, named
 * after the store operation that failed.
 */
import { Clock, Effect, Option } from "effect"
import { Fenced, StoreError } from "../../core/errors.ts"
import type { Device, Member, Message, Room, RoomId, RoomKind, RoomSummary, UserId } from "../../core/model.ts"
import type { ChatStore, HistoryPage, Membership, NewGroupRoom, RoomHead, WrappedRoomKey } from "../ChatStore.ts"
import { byteOrder } from "../byteOrder.ts"
import { decodeRoomCursor, encodeRoomCursor } from "../cursor.ts"
import { toMessage } from "../../core/plan.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import { commitGroup, type CommitOutcome, type RoomBatch } from "./commit.ts"
import { type GroupCommitOptions, makeGroupCommitter } from "./groupCommit.ts"
import { makeSqlPushQueue } from "./pushQueue.ts"
import { isolate } from "./isolate.ts"
import { commitFast, fastEligible, isCollision } from "./fastCommit.ts"
import { BoundedMap } from "../../core/util/BoundedMap.ts"
import * as Q from "./queries.ts"
import * as R from "./rows.ts"
import type { SqlClient, SqlDatabase } from "./SqlClient.ts"

/** The statements a test EXPLAINs to prove they are index range scans. */
export { HISTORY as HISTORY_SQL, REPLAY as REPLAY_SQL, ROOM_LIST as ROOM_LIST_SQL } from "./queries.ts"

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** Larger than any seq: "no upper bound" for `history` without `before`. */
const NO_BOUND = Number.MAX_SAFE_INTEGER

const loadHead = async (c: SqlClient, room: RoomId): Promise<RoomHead | undefined> => {
  const [row] = await c.query(Q.LOAD_ROOM, [room])
  if (row === undefined) return undefined
  const members: Array<Member> = (await c.query(Q.LOAD_MEMBERS, [room])).map(R.member)
  const value: Room = {
    id: String(row.id) as RoomId,
    kind: row.kind as RoomKind,
    ...(row.name !== null && row.name !== undefined ? { name: String(row.name) } : {}),
    members,
    createdAt: R.iso(row.created_at),
    lastSeq: R.num(row.last_seq)
  }
  return { room: value, members: new Map(members.map((m) => [m.user, m.role])), epoch: R.num(row.epoch) }
}

const mustLoadRoom = async (c: SqlClient, room: RoomId): Promise<Room> => {
  const head = await loadHead(c, room)
  if (head === undefined) throw new Error(`room ${room} vanished inside its own transaction`)
  return head.room
}

export interface SqlStoreOptions {
  /** Cross-room group commit (./groupCommit.ts); defaults: 2 groups in flight, 256 rooms each. */
  readonly groupCommit?: Partial<GroupCommitOptions>
}

/** Rooms whose last seq the store remembers for the one-statement commit (about 100 bytes each). */
const HEAD_HINTS = 65_536

/** A batch submitted through `commitPreparedNow`: its ops are made by `prepare` when its group is written. */
interface PreparedBatch extends Omit<RoomBatch, "ops"> {
  readonly prepare: () => ReadonlyArray<WriteOp>
}
type Submitted = RoomBatch | PreparedBatch

/** A batch whose `prepare` threw: answered alone, with what it threw. */
interface Unprepared {
  readonly _tag: "Unprepared"
  readonly error: StoreError
}

const isPrepared = (b: Submitted): b is PreparedBatch => (b as PreparedBatch).prepare !== undefined
const isUnprepared = (b: RoomBatch | Unprepared): b is Unprepared => (b as Unprepared)._tag === "Unprepared"

/** The batch with its ops, or the error its `prepare` threw (as a StoreError). */
const resolveBatch = (b: Submitted): RoomBatch | Unprepared => {
  if (!isPrepared(b)) return b
  try {
    return { room: b.room, epoch: b.epoch, members: b.members, ops: b.prepare(), now: b.now, shard: b.shard }
  } catch (e) {
    return { _tag: "Unprepared", error: e instanceof StoreError ? e : new StoreError({ operation: "commit", cause: e }) }
  }
}

export const makeSqlStore = (db: SqlDatabase, name: string, options: SqlStoreOptions = {}): ChatStore => {
  /**
   * Each room's last seq as this store last loaded or committed it. A room's actor is its only
   * writer on this node, so this is nearly always the database's value; when it is not (another
   * node wrote, or a commit's outcome was lost) the one-statement commit finds the head moved,
   * writes nothing, and the room takes the full path, which reads the head under its lock.
   */
  const heads = new BoundedMap<string, number>(HEAD_HINTS)
  /**
   * A group as submitted: the prepared batches' ops are made now, back to back (see
   * ChatStore.commitPreparedNow); a batch whose `prepare` threw is answered alone.
   */
  const commitSubmitted = async (submitted: ReadonlyArray<Submitted>): Promise<ReadonlyArray<CommitOutcome | Unprepared>> => {
    let resolved: Array<RoomBatch | Unprepared> | undefined
    for (let i = 0; i < submitted.length; i++) {
      if (!isPrepared(submitted[i]!)) continue
      resolved ??= submitted.slice() as Array<RoomBatch | Unprepared>
      resolved[i] = resolveBatch(submitted[i]!)
    }
    if (resolved === undefined) return commitRooms(submitted as ReadonlyArray<RoomBatch>)
    const items: Array<RoomBatch> = []
    for (const b of resolved) if (!isUnprepared(b)) items.push(b)
    if (items.length === resolved.length) return commitRooms(items)
    const out: Array<CommitOutcome | Unprepared> = new Array(resolved.length)
    const committed = items.length === 0 ? [] : await commitRooms(items)
    let j = 0
    for (let i = 0; i < resolved.length; i++) {
      const b = resolved[i]!
      out[i] = isUnprepared(b) ? b : committed[j++]!
    }
    return out
  }
  const commitRooms = async (items: ReadonlyArray<RoomBatch>): Promise<ReadonlyArray<CommitOutcome>> => {
    // Peeked: the commit's outcome sets (or drops) each hint below, which renews its place.
    const hints = items.map((b) => heads.peek(b.room))
    let outcomes: Array<CommitOutcome | undefined> = new Array(items.length)
    let full: Array<number> = items.map((_, i) => i)
    if (items.every((b, i) => fastEligible(b, hints[i]))) {
      try {
        const fast = await commitFast(db, items, hints as Array<number>)
        outcomes = fast.outcomes
        full = fast.rest
      } catch (e) {
        // A collision wrote nothing: the full path answers it (first ack). Anything else is the group's failure.
        if (!isCollision(e)) {
          for (const b of items) heads.delete(b.room)
          throw e
        }
      }
    }
    if (full.length > 0) {
      try {
        const out = await db.transaction((tx) => commitGroup(tx, full.map((i) => items[i]!)))
        full.forEach((i, j) => (outcomes[i] = out[j]))
      } catch (e) {
        for (const b of items) heads.delete(b.room)
        throw e
      }
    }
    items.forEach((b, i) => {
      const o = outcomes[i]
      if (o?._tag === "Done" && o.lastSeq !== undefined) heads.set(b.room, o.lastSeq)
      else heads.delete(b.room)
    })
    return outcomes as Array<CommitOutcome>
  }
  const committer = makeGroupCommitter<Submitted, CommitOutcome | Unprepared>(commitSubmitted, (b) => b.room, {
    concurrency: 2,
    maxRooms: 256,
    ...options.groupCommit
  })
  const run = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, StoreError> =>
    Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

  const createGroupRoom = (input: NewGroupRoom) =>
    Effect.flatMap(nowIso, (now) =>
      run("createGroupRoom", () =>
        db.transaction(async (tx) => {
          const others = [...new Set(input.members)].filter((u) => u !== input.owner)
          await tx.query(Q.INSERT_GROUP_ROOM, [input.id, input.name, now])
          await tx.query(Q.INSERT_MEMBERS, [
            input.id,
            0,
            now,
            [input.owner, ...others],
            ["owner", ...others.map(() => "member")]
          ])
          return mustLoadRoom(tx, input.id)
        })
      )
    )

  const findOrCreateDirectRoom = (a: UserId, b: UserId, newId: RoomId) =>
    Effect.flatMap(nowIso, (now) =>
      run("findOrCreateDirectRoom", () =>
        db.transaction(async (tx) => {
          // The pair in byte order (the "C" collation of direct_rooms), so (a, b) and (b, a) collide.
          const [lo, hi] = byteOrder(a, b) <= 0 ? [a, b] : [b, a]
          const [found] = await tx.query(Q.FIND_DIRECT_ROOM, [lo, hi])
          if (found !== undefined) return { room: await mustLoadRoom(tx, found.room_id as RoomId), created: false }
          const [made] = await tx.query(Q.CREATE_DIRECT_ROOM, [lo, hi, newId, now])
          if (made !== undefined) return { room: await mustLoadRoom(tx, newId), created: true }
          // Lost the race: the winner's insert is committed (ON CONFLICT waited for it), and
          // under READ COMMITTED this next statement sees it.
          const [winner] = await tx.query(Q.FIND_DIRECT_ROOM, [lo, hi])
          return { room: await mustLoadRoom(tx, winner.room_id as RoomId), created: false }
        })
      )
    )

  /**
   * One batch through the group committer, answered through a callback: the outcome, Fenced,
   * or StoreError. A batch the database refused is retried op by op (./isolate.ts). Callbacks,
   * not promises, on the common path: the room actor's plain commit calls this per batch.
   */
  const commitBatch = (batch: Submitted, done: (error: StoreError | Fenced | undefined, results?: ReadonlyArray<OpResult>) => void) => {
    const answer = (outcome: CommitOutcome | Unprepared) =>
      outcome._tag === "Done"
        ? done(undefined, outcome.results)
        : outcome._tag === "Unprepared"
          ? done(outcome.error)
          : done(new Fenced({ room: batch.room, epoch: batch.epoch, currentEpoch: outcome.currentEpoch }))
    const failed = (cause: unknown) => done(new StoreError({ operation: "commit", cause }))
    committer.submit(batch, answer, (e) => {
      // Retried op by op with the ops made (a prepared batch's `prepare` answers the same ops again).
      const resolved = resolveBatch(batch)
      if (isUnprepared(resolved)) return done(resolved.error)
      void isolate(db, commitResolved, resolved, e).then(answer, failed)
    })
  }
  /** A batch with its ops through the group committer (no `prepare`, so never Unprepared). */
  const commitResolved = (batch: RoomBatch): Promise<CommitOutcome> => committer(batch) as Promise<CommitOutcome>

  const commit: ChatStore["commit"] = (room, epoch, members, ops, shard) =>
    Effect.flatMap(nowIso, (now) =>
      Effect.async<ReadonlyArray<OpResult>, StoreError | Fenced>((resume) =>
        commitBatch({ room, epoch, members, ops, now, shard }, (error, results) =>
          resume(error !== undefined ? Effect.fail(error) : Effect.succeed(results!))
        )
      )
    )

  /** `commit` as plain code (the room actor's), timestamped by the wall clock. */
  const commitNow: ChatStore["commitNow"] = (room, epoch, members, ops, shard, done) =>
    commitBatch({ room, epoch, members, ops, now: new Date().toISOString(), shard }, done)

  const commitPreparedNow: ChatStore["commitPreparedNow"] = (room, epoch, members, shard, prepare, done) =>
    commitBatch({ room, epoch, members, prepare, now: new Date().toISOString(), shard }, done)

  const fenceShard: ChatStore["fenceShard"] = (shard, epoch) =>
    Effect.flatMap(run("fenceShard", () => db.query(Q.RAISE_SHARD_FENCE, [shard, epoch])), ([row]) => {
      const current = R.num(row.epoch)
      return current > epoch ? Effect.fail(new Fenced({ room: `shard:${shard}`, epoch, currentEpoch: current })) : Effect.void
    })

  const historyPage = async (room: RoomId, before: number | undefined, limit: number): Promise<HistoryPage> => {
    const rows = await db.query(Q.HISTORY, [room, before ?? NO_BOUND, limit + 1])
    const n = Math.min(rows.length, limit)
    const messages = new Array<Message>(n)
    for (let i = 0; i < n; i++) {
      const row = rows[i]
      const m = R.storedMessage(row)
      const message = toMessage(room, m, m.body ?? "")
      const reactions = row.reactions as Record<string, Array<UserId>> | null
      // Most messages have no reactions: no second copy of each for them.
      messages[i] = reactions ? { ...message, reactions } : message
    }
    return { messages, hasMore: rows.length > limit }
  }

  const history: ChatStore["history"] = (room, before, limit) => run("history", () => historyPage(room, before, limit))

  const historyNow: NonNullable<ChatStore["historyNow"]> = (room, before, limit, done) => {
    historyPage(room, before, limit).then(
      (page) => done(undefined, page),
      (cause) => done(new StoreError({ operation: "history", cause }))
    )
  }

  const listRooms: ChatStore["listRooms"] = (user, cursor, limit) =>
    run("listRooms", async () => {
      const after = cursor === undefined ? undefined : decodeRoomCursor(cursor)
      if (cursor !== undefined && after === undefined) throw new Error("malformed room cursor")
      const rows = await db.query(Q.ROOM_LIST, [
        user,
        after?.pinned ?? null,
        after?.lastActivityAt ?? null,
        after?.id ?? null,
        limit + 1
      ])
      const rooms = rows.slice(0, limit).map((row): RoomSummary => ({
        id: String(row.id) as RoomId,
        kind: row.kind as RoomKind,
        ...(row.name !== null && row.name !== undefined ? { name: String(row.name) } : {}),
        pinned: row.pinned === true,
        unread: R.num(row.unread),
        lastActivityAt: R.iso(row.last_activity_at),
        ...(row.last_seq !== null && row.last_seq !== undefined
          ? {
              lastMessage: {
                seq: R.num(row.last_seq),
                id: String(row.last_id),
                sender: row.last_sender as UserId,
                body: String(row.last_body),
                ts: R.iso(row.last_ts)
              }
            }
          : {})
      }))
      const last = rooms[rooms.length - 1]
      return rows.length > limit && last !== undefined
        ? { rooms, nextCursor: encodeRoomCursor({ pinned: last.pinned, lastActivityAt: last.lastActivityAt, id: last.id }) }
        : { rooms }
    })

  const addRoomKey = (key: WrappedRoomKey) =>
    run("addRoomKey", () =>
      db.transaction(async (tx) => {
        await tx.query(Q.LOCK_ROOM_KEYS, [key.room])
        await tx.query(Q.ADD_ROOM_KEY, [key.room, key.keyId, key.masterKeyId, key.wrapped, key.createdAt])
        return (await tx.query(Q.ROOM_KEYS, [key.room])).map(R.roomKey)
      })
    )

  return {
    name,
    ping: Effect.asVoid(run("ping", () => db.query(Q.PING))),
    createGroupRoom,
    findOrCreateDirectRoom,
    loadRoom: (room) =>
      run("loadRoom", async () => {
        const head = await loadHead(db, room)
        if (head !== undefined) heads.set(room, head.room.lastSeq)
        return Option.fromNullable(head)
      }),
    getMembership: (room, user) =>
      run("getMembership", async () => {
        const [row] = await db.query(Q.LOAD_MEMBERSHIP, [room, user])
        return row === undefined
          ? Option.none()
          : Option.some<Membership>({ role: R.member(row).role, readSeq: R.num(row.read_seq), pinned: row.pinned === true })
      }),
    commit,
    commitNow,
    commitPreparedNow,
    historyNow,
    fenceShard,
    events: (room, after, upTo, limit) =>
      run("events", async () => (await db.query(Q.REPLAY, [room, after, upTo, limit])).map((row) => R.replayEvent(room, row))),
    history,
    listRooms,
    markRead: (room, user, seq) =>
      run("markRead", async () => {
        const [row] = await db.query(Q.MARK_READ, [room, user, seq])
        return row === undefined ? { seq: 0, marked: 0 } : { seq: R.num(row.read_seq), marked: R.num(row.marked) }
      }),
    setPinned: (room, user, pinned) => Effect.asVoid(run("setPinned", () => db.query(Q.SET_PINNED, [room, user, pinned]))),
    registerDevice: (user, token, platform) =>
      Effect.flatMap(nowIso, (now) =>
        Effect.asVoid(run("registerDevice", () => db.query(Q.REGISTER_DEVICE, [user, token, platform, now])))
      ),
    unregisterDevice: (user, token) =>
      run("unregisterDevice", async () => (await db.query(Q.UNREGISTER_DEVICE, [user, token])).length > 0),
    listDevices: (user) => run("listDevices", async () => (await db.query(Q.LIST_DEVICES, [user])).map(R.device)),
    pushAudience: (rooms) =>
      run("pushAudience", async () => {
        const out = new Map<RoomId, { members: Array<UserId>; devices: Array<Device> }>()
        if (rooms.length === 0) return out
        for (const row of await db.query(Q.PUSH_AUDIENCE, [rooms])) {
          const room = String(row.room_id) as RoomId
          let audience = out.get(room)
          if (audience === undefined) out.set(room, (audience = { members: [], devices: [] }))
          if (row.user_id === null || row.user_id === undefined) continue
          // A member's rows are adjacent (the ORDER BY): a new user id is the next member.
          const user = row.user_id as UserId
          if (audience.members[audience.members.length - 1] !== user) audience.members.push(user)
          if (row.token !== null && row.token !== undefined) audience.devices.push(R.device(row))
        }
        return out
      }),
    roomKeys: (room) => run("roomKeys", async () => (await db.query(Q.ROOM_KEYS, [room])).map(R.roomKey)),
    addRoomKey,
    allRoomKeys: run("allRoomKeys", async () => (await db.query(Q.ALL_ROOM_KEYS)).map(R.roomKey)),
    rewrapRoomKey: (key) =>
      Effect.asVoid(
        run("rewrapRoomKey", () => db.query(Q.REWRAP_ROOM_KEY, [key.room, key.keyId, key.masterKeyId, key.wrapped]))
      ),
    push: makeSqlPushQueue(db, run)
  }
}
