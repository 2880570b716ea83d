/**
 * The in-memory ChatStore, for fast tests. It keeps the rows the SQL stores keep and, like
 * them, only loads and persists: plan() decides. Each operation runs as one synchronous
 * step, so a commit is atomic and commits to a room are serialised without locks.
 * Orders match the SQL stores': users, emoji, tokens and key ids in byte order ("C").
 */
import { Clock, Effect, Layer, Option } from "effect"
import { Fenced, NotFound, StoreError } from "../../core/errors.ts"
import type { Device, Message, Role, Room, RoomId, RoomKind, RoomSummary, UserId } from "../../core/model.ts"
import { byteOrder } from "../byteOrder.ts"
import { type ChatStore, ChatStoreTag, type PushAudience, type RoomHead, type WrappedRoomKey } from "../ChatStore.ts"
import { decodeRoomCursor, encodeRoomCursor, type RoomCursor } from "../cursor.ts"
import type { OpResult } from "../../core/ops.ts"
import { intentOf } from "../PushQueue.ts"
import { makeMemoryPushQueue } from "./MemoryPushQueue.ts"
import {
  idempotencyKey,
  type Plan,
  plan,
  reactionKey,
  referencedSeqs,
  sendKeys,
  type StoredEvent,
  type StoredMessage,
  toMessage
} from "../../core/plan.ts"

interface MemberRow {
  role: Role
  readSeq: number
  pinned: boolean
  joinedAt: string
}

interface RoomRow {
  readonly id: RoomId
  readonly kind: RoomKind
  name: string | undefined
  readonly createdAt: string
  lastSeq: number
  epoch: number
  lastActivityAt: string
  readonly members: Map<UserId, MemberRow>
  /** By seq, inserted in seq order. */
  readonly messages: Map<number, StoredMessage>
  /** idempotencyKey(sender, clientMsgId) -> seq: the UNIQUE index of the SQL stores. */
  readonly sent: Map<string, number>
  readonly events: Array<StoredEvent>
  /** seq -> emoji -> users. */
  readonly reactions: Map<number, Map<string, Set<UserId>>>
}

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())
/** What a timestamptz column gives back: ISO 8601, UTC, milliseconds. */
const normalise = (ts: string) => new Date(ts).toISOString()
const fail = (operation: string, message: string) => Effect.fail(new StoreError({ operation, cause: new Error(message) }))

const toRoom = (r: RoomRow): Room => ({
  id: r.id,
  kind: r.kind,
  ...(r.name !== undefined ? { name: r.name } : {}),
  members: [...r.members]
    .sort(([ua, a], [ub, b]) => (a.joinedAt < b.joinedAt ? -1 : a.joinedAt > b.joinedAt ? 1 : byteOrder(ua, ub)))
    .map(([user, m]) => ({ user, role: m.role })),
  createdAt: r.createdAt,
  lastSeq: r.lastSeq
})

const newRoom = (id: RoomId, kind: RoomKind, name: string | undefined, now: string): RoomRow => ({
  id,
  kind,
  name,
  createdAt: now,
  lastSeq: 0,
  epoch: 0,
  lastActivityAt: now,
  members: new Map(),
  messages: new Map(),
  sent: new Map(),
  events: [],
  reactions: new Map()
})

/** Room list order: pinned first, then latest activity, then id. Negative: `a` comes first. */
const listOrder = (a: RoomCursor, b: RoomCursor): number =>
  a.pinned !== b.pinned
    ? a.pinned
      ? -1
      : 1
    : a.lastActivityAt !== b.lastActivityAt
      ? a.lastActivityAt > b.lastActivityAt
        ? -1
        : 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0

const persist = (r: RoomRow, p: Plan, now: string) => {
  for (const m of p.messages) {
    r.messages.set(m.seq, m)
    if (m.clientMsgId !== undefined) r.sent.set(idempotencyKey(m.sender, m.clientMsgId), m.seq)
  }
  r.events.push(...p.events)
  for (const e of p.edits) {
    const m = r.messages.get(e.seq)
    if (m !== undefined) r.messages.set(e.seq, { ...m, body: e.body, editedAt: e.editedAt })
  }
  for (const seq of p.deletes) {
    const m = r.messages.get(seq)
    if (m !== undefined) r.messages.set(seq, { ...m, body: null, deleted: true })
  }
  for (const x of p.reactionsRemoved) r.reactions.get(x.seq)?.get(x.emoji)?.delete(x.user)
  for (const x of p.reactionsAdded) {
    const byEmoji = r.reactions.get(x.seq) ?? new Map<string, Set<UserId>>()
    r.reactions.set(x.seq, byEmoji)
    const users = byEmoji.get(x.emoji) ?? new Set<UserId>()
    byEmoji.set(x.emoji, users)
    users.add(x.user)
  }
  for (const { user, role } of p.membersUpserted) {
    const m = r.members.get(user)
    if (m !== undefined) m.role = role
    // New members start caught up, as in the SQL stores.
    else r.members.set(user, { role, readSeq: p.lastSeq, pinned: false, joinedAt: now })
  }
  for (const user of p.membersRemoved) r.members.delete(user)
}

export const makeMemoryStore = (): ChatStore => {
  const rooms = new Map<string, RoomRow>()
  /** "lo\0hi" (byte order) -> room. */
  const directs = new Map<string, RoomId>()
  const devices = new Map<UserId, Map<string, Device>>()
  const keys = new Map<string, Array<WrappedRoomKey>>()
  const push = makeMemoryPushQueue()
  const anyDevice = (users: Iterable<UserId>): boolean => {
    for (const u of users) if ((devices.get(u)?.size ?? 0) > 0) return true
    return false
  }
  const devicesOf = (user: UserId): Array<Device> =>
    [...(devices.get(user)?.values() ?? [])].sort((a, b) =>
      a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? -1 : 1) : byteOrder(a.token, b.token)
    )

  const reactionsOf = (r: RoomRow, m: StoredMessage): Message["reactions"] => {
    const byEmoji = r.reactions.get(m.seq)
    if (m.deleted || byEmoji === undefined) return undefined
    const out: Record<string, Array<UserId>> = {}
    for (const [emoji, users] of byEmoji) if (users.size > 0) out[emoji] = [...users].sort(byteOrder)
    return Object.keys(out).length > 0 ? out : undefined
  }

  const shardFences = new Map<number, number>()
  const fenceShard: ChatStore["fenceShard"] = (shard, epoch) =>
    Effect.suspend(() => {
      const current = Math.max(shardFences.get(shard) ?? 0, epoch)
      shardFences.set(shard, current)
      return current > epoch ? Effect.fail(new Fenced({ room: `shard:${shard}`, epoch, currentEpoch: current })) : Effect.void
    })

  const commit: ChatStore["commit"] = (room, epoch, members, ops, shard) =>
    Effect.flatMap(nowIso, (now): Effect.Effect<ReadonlyArray<OpResult>, Fenced> => {
      const fence = shard === undefined ? undefined : shardFences.get(shard)
      if (fence !== undefined && epoch < fence) return Effect.fail(new Fenced({ room, epoch, currentEpoch: fence }))
      const r = rooms.get(room)
      if (r === undefined) {
        return Effect.succeed(ops.map(() => ({ _tag: "Rejected", error: new NotFound({ message: "room not found" }) })))
      }
      if (epoch < r.epoch) return Effect.fail(new Fenced({ room, epoch, currentEpoch: r.epoch }))
      const targets = new Map<number, StoredMessage>()
      for (const seq of referencedSeqs(ops)) {
        const m = r.messages.get(seq)
        if (m !== undefined) targets.set(seq, m)
      }
      const sent = new Map<string, StoredMessage>()
      for (const k of sendKeys(ops)) {
        const key = idempotencyKey(k.sender, k.clientMsgId)
        const seq = r.sent.get(key)
        if (seq !== undefined) sent.set(key, r.messages.get(seq)!)
      }
      const reactions = new Set<string>()
      for (const op of ops) {
        if (op._tag === "React" && r.reactions.get(op.seq)?.get(op.emoji)?.has(op.actor)) {
          reactions.add(reactionKey(op.seq, op.emoji, op.actor))
        }
      }
      const p = plan({ room, kind: r.kind, lastSeq: r.lastSeq, members, ops, targets, sent, reactions, now })
      persist(r, p, now)
      // Only where a member has a device (as the SQL stores rule, ../PushQueue.ts).
      const intent = intentOf(room, p.messages, now)
      if (intent !== undefined && anyDevice(r.members.keys())) push.add(intent)
      r.lastSeq = p.lastSeq
      r.epoch = epoch
      if (p.name !== undefined) r.name = p.name
      if (p.events.length > 0) r.lastActivityAt = now
      return Effect.succeed(p.results)
    })

  const listRooms: ChatStore["listRooms"] = (user, cursor, limit) => {
    const after = cursor === undefined ? undefined : decodeRoomCursor(cursor)
    if (cursor !== undefined && after === undefined) return fail("listRooms", "malformed room cursor")
    return Effect.sync(() => {
      const mine: Array<{ key: RoomCursor; r: RoomRow; m: MemberRow }> = []
      for (const r of rooms.values()) {
        const m = r.members.get(user)
        if (m === undefined) continue
        const key = { pinned: m.pinned, lastActivityAt: r.lastActivityAt, id: r.id }
        if (after === undefined || listOrder(after, key) < 0) mine.push({ key, r, m })
      }
      mine.sort((a, b) => listOrder(a.key, b.key))
      const rows = mine.slice(0, limit).map(({ r, m }): RoomSummary => {
        let unread = 0
        let last: StoredMessage | undefined
        for (const msg of r.messages.values()) {
          if (msg.deleted) continue
          if (msg.seq > m.readSeq && msg.sender !== user) unread++
          last = msg
        }
        return {
          id: r.id,
          kind: r.kind,
          ...(r.name !== undefined ? { name: r.name } : {}),
          pinned: m.pinned,
          unread,
          lastActivityAt: r.lastActivityAt,
          ...(last !== undefined
            ? { lastMessage: { seq: last.seq, id: last.id, sender: last.sender, body: last.body ?? "", ts: last.ts } }
            : {})
        }
      })
      const lastRow = mine[Math.min(limit, mine.length) - 1]
      return mine.length > limit && lastRow !== undefined
        ? { rooms: rows, nextCursor: encodeRoomCursor(lastRow.key) }
        : { rooms: rows }
    })
  }

  return {
    name: "memory",
    ping: Effect.void,

    createGroupRoom: (input) =>
      Effect.flatMap(nowIso, (now) => {
        if (rooms.has(input.id)) return fail("createGroupRoom", "room id already taken")
        const r = newRoom(input.id, "group", input.name, now)
        r.members.set(input.owner, { role: "owner", readSeq: 0, pinned: false, joinedAt: now })
        for (const u of input.members) {
          if (!r.members.has(u)) r.members.set(u, { role: "member", readSeq: 0, pinned: false, joinedAt: now })
        }
        rooms.set(r.id, r)
        return Effect.succeed(toRoom(r))
      }),

    findOrCreateDirectRoom: (a, b, newId) =>
      Effect.flatMap(nowIso, (now): Effect.Effect<{ room: Room; created: boolean }, StoreError> => {
        const [lo, hi] = byteOrder(a, b) <= 0 ? [a, b] : [b, a]
        const pair = `${lo}\u0000${hi}`
        const existing = directs.get(pair)
        if (existing !== undefined) return Effect.succeed({ room: toRoom(rooms.get(existing)!), created: false })
        if (rooms.has(newId)) return fail("findOrCreateDirectRoom", "room id already taken")
        const r = newRoom(newId, "direct", undefined, now)
        for (const u of [lo, hi]) r.members.set(u, { role: "member", readSeq: 0, pinned: false, joinedAt: now })
        rooms.set(r.id, r)
        directs.set(pair, r.id)
        return Effect.succeed({ room: toRoom(r), created: true })
      }),

    loadRoom: (room) =>
      Effect.sync(() => {
        const r = rooms.get(room)
        if (r === undefined) return Option.none<RoomHead>()
        return Option.some({
          room: toRoom(r),
          members: new Map([...r.members].map(([u, m]) => [u, m.role] as const)),
          epoch: r.epoch
        })
      }),

    getMembership: (room, user) =>
      Effect.sync(() =>
        Option.map(Option.fromNullable(rooms.get(room)?.members.get(user)), (m) => ({
          role: m.role,
          readSeq: m.readSeq,
          pinned: m.pinned
        }))
      ),

    commit,
    fenceShard,

    events: (room, after, upTo, limit) =>
      Effect.sync(() => {
        const r = rooms.get(room)
        if (r === undefined) return []
        return r.events
          .filter((e) => e.seq > after && e.seq <= upTo)
          .slice(0, limit)
          .map((e) => {
            const m = e.targetSeq === undefined ? undefined : r.messages.get(e.targetSeq)
            return {
              room,
              seq: e.seq,
              ts: e.ts,
              kind: e.kind,
              actor: e.actor,
              data: m === undefined ? e.data : toMessage(room, m, m.body ?? "")
            }
          })
      }),

    history: (room, before, limit) =>
      Effect.sync(() => {
        const r = rooms.get(room)
        if (r === undefined) return { messages: [], hasMore: false }
        const older = [...r.messages.values()].filter((m) => before === undefined || m.seq < before).reverse()
        const messages = older.slice(0, limit).map((m): Message => {
          const reactions = reactionsOf(r, m)
          return { ...toMessage(room, m, m.body ?? ""), ...(reactions ? { reactions } : {}) }
        })
        return { messages, hasMore: older.length > limit }
      }),

    listRooms,

    markRead: (room, user, seq) =>
      Effect.sync(() => {
        const r = rooms.get(room)
        const m = r?.members.get(user)
        if (r === undefined || m === undefined) return { seq: 0, marked: 0 }
        const previous = m.readSeq
        m.readSeq = Math.max(previous, Math.min(seq, r.lastSeq))
        let marked = 0
        for (const msg of r.messages.values()) {
          if (msg.seq > previous && msg.seq <= m.readSeq && msg.sender !== user && !msg.deleted) marked++
        }
        return { seq: m.readSeq, marked }
      }),

    setPinned: (room, user, pinned) =>
      Effect.sync(() => {
        const m = rooms.get(room)?.members.get(user)
        if (m !== undefined) m.pinned = pinned
      }),

    registerDevice: (user, token, platform) =>
      Effect.map(nowIso, (now) => {
        const mine = devices.get(user) ?? new Map<string, Device>()
        devices.set(user, mine)
        const known = mine.get(token)
        mine.set(token, known ? { ...known, platform } : { user, token, platform, createdAt: now })
      }),

    unregisterDevice: (user, token) => Effect.sync(() => devices.get(user)?.delete(token) ?? false),

    listDevices: (user) => Effect.sync(() => devicesOf(user)),

    pushAudience: (ids) =>
      Effect.sync(() => {
        const out = new Map<RoomId, PushAudience>()
        for (const id of ids) {
          const r = rooms.get(id)
          if (r === undefined) continue
          const members = toRoom(r).members.map((m) => m.user)
          out.set(r.id, { members, devices: members.flatMap((u) => devicesOf(u)) })
        }
        return out
      }),

    roomKeys: (room) => Effect.sync(() => sortKeys(keys.get(room) ?? [])),

    addRoomKey: (key) =>
      Effect.sync(() => {
        const mine = keys.get(key.room) ?? []
        if (mine.length === 0) keys.set(key.room, [{ ...key, createdAt: normalise(key.createdAt) }])
        return sortKeys(keys.get(key.room) ?? [])
      }),

    allRoomKeys: Effect.sync(() =>
      [...keys.values()].flat().sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : keyOrder(a, b)))
    ),

    rewrapRoomKey: (key) =>
      Effect.sync(() => {
        const mine = keys.get(key.room) ?? []
        const i = mine.findIndex((k) => k.keyId === key.keyId)
        if (i >= 0) mine[i] = { ...mine[i], masterKeyId: key.masterKeyId, wrapped: key.wrapped }
      }),

    push
  }
}

const keyOrder = (a: WrappedRoomKey, b: WrappedRoomKey) =>
  a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? -1 : 1) : byteOrder(a.keyId, b.keyId)
const sortKeys = (ks: ReadonlyArray<WrappedRoomKey>) => [...ks].sort(keyOrder)

export const layerMemory: Layer.Layer<ChatStoreTag> = Layer.sync(ChatStoreTag, makeMemoryStore)
