/**
 * Reading PostgreSQL's rows in the import format of storage/scylla/mirror.ts: a room's head,
 * a seq range of its events with the messages and reactions they touch (as they are NOW, so
 * an edit or delete of an older message carries its current row), its members. Bodies are
 * read as stored (ciphertext); nothing is decrypted.
 */
import type { Device, Platform, Role, RoomId, RoomKind, UserId } from "../../core/model.ts"
import type { WrappedRoomKey } from "../ChatStore.ts"
import type { StoredEvent } from "../../core/plan.ts"
import type { MemberImage, ReactionImage, RoomImage, RoomRows } from "../scylla/mirror.ts"
import { iso, num, roomKey, storedMessage } from "../sql/rows.ts"
import type { SqlClient } from "../sql/SqlClient.ts"

const ROOM = `
SELECT r.id, r.kind, r.name, r.created_at, r.last_activity_at, r.last_seq, r.epoch, d.user_a, d.user_b
FROM rooms r LEFT JOIN direct_rooms d ON d.room_id = r.id
WHERE r.id = $1::uuid`

/**
 * Every event of the range, as ScyllaDB stores them: a message is its own `message.created`
 * event in PostgreSQL (no events row; ../sql/queries.ts REPLAY), so those come from messages,
 * and such rows in events (written by earlier versions) are skipped.
 */
const EVENTS = `
SELECT seq, kind, actor, ts, target_seq, data FROM events
WHERE room_id = $1::uuid AND seq > $2::bigint AND seq <= $3::bigint AND kind <> 'message.created'
UNION ALL
SELECT seq, 'message.created', sender, ts, seq, NULL::jsonb FROM messages
WHERE room_id = $1::uuid AND seq > $2::bigint AND seq <= $3::bigint
ORDER BY seq`

const MESSAGES = `
SELECT seq, id, sender, body, ts, reply_to, client_msg_id, edited_at, deleted FROM messages
WHERE room_id = $1::uuid AND ((seq > $2::bigint AND seq <= $3::bigint) OR seq = ANY($4::bigint[]))`

const REACTIONS = `
SELECT seq, emoji, user_id FROM reactions
WHERE room_id = $1::uuid AND ((seq > $2::bigint AND seq <= $3::bigint) OR seq = ANY($4::bigint[]))`

const MEMBERS = `
SELECT user_id, role, joined_at, read_seq, pinned FROM members
WHERE room_id = $1::uuid AND ($2::text[] IS NULL OR user_id = ANY($2::text[]))`

export const ROOM_IDS = "SELECT id FROM rooms WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2::bigint"

const DEVICES = "SELECT user_id, token, platform, created_at FROM devices WHERE user_id = $1::text ORDER BY created_at, token"

const DEVICE_USERS = `
SELECT DISTINCT user_id FROM devices WHERE ($1::text IS NULL OR user_id > $1::text) ORDER BY user_id LIMIT $2::bigint`

const ROOM_KEYS = "SELECT room_id, key_id, master_key_id, wrapped, created_at FROM room_keys WHERE room_id = $1::uuid"

const ALL_ROOM_KEYS = "SELECT room_id, key_id, master_key_id, wrapped, created_at FROM room_keys ORDER BY room_id, key_id"

export const readRoom = async (db: SqlClient, room: RoomId): Promise<RoomImage | undefined> => {
  const [row] = await db.query(ROOM, [room])
  if (row === undefined) return undefined
  return {
    id: String(row.id) as RoomId,
    kind: row.kind as RoomKind,
    name: row.name === null || row.name === undefined ? undefined : String(row.name),
    createdAt: iso(row.created_at),
    lastActivityAt: iso(row.last_activity_at),
    lastSeq: num(row.last_seq),
    epoch: num(row.epoch),
    pair: row.user_a === null || row.user_a === undefined ? undefined : [row.user_a as UserId, row.user_b as UserId]
  }
}

const isMessageKind = (kind: string) => kind.startsWith("message.")
const isReactionKind = (kind: string) => kind === "reaction.added" || kind === "reaction.removed"

/**
 * Events with after < seq <= upTo, the current rows of the messages they create or change, and
 * the current state of every reaction on those messages (absent ones too, when an event of
 * the range added or removed them). Members are read separately (`readMembers`).
 */
export const readRange = async (
  db: SqlClient,
  room: RoomId,
  after: number,
  upTo: number
): Promise<Pick<RoomRows, "events" | "messages" | "reactions">> => {
  const events: Array<StoredEvent> = (await db.query(EVENTS, [room, after, upTo])).map((row) => {
    const targetSeq = row.target_seq === null || row.target_seq === undefined ? undefined : num(row.target_seq)
    return {
      seq: num(row.seq),
      kind: row.kind as StoredEvent["kind"],
      actor: row.actor as UserId,
      ts: iso(row.ts),
      targetSeq,
      data: targetSeq === undefined ? row.data : undefined
    }
  })
  const reactionEvents = events.flatMap((e) => {
    if (!isReactionKind(e.kind)) return []
    const d = e.data as { messageSeq: number; emoji: string; user: UserId }
    return [{ seq: d.messageSeq, emoji: d.emoji, user: d.user }]
  })
  // Messages and reactions below the range that an event of the range changed.
  const older = [
    ...new Set([
      ...events.flatMap((e) => (isMessageKind(e.kind) && e.targetSeq !== undefined && e.targetSeq <= after ? [e.targetSeq] : [])),
      ...reactionEvents.filter((r) => r.seq <= after).map((r) => r.seq)
    ])
  ]
  const [messageRows, reactionRows] = await Promise.all([
    db.query(MESSAGES, [room, after, upTo, older]),
    db.query(REACTIONS, [room, after, upTo, older])
  ])
  const present = new Map<string, ReactionImage>()
  for (const row of reactionRows) {
    const r = { seq: num(row.seq), emoji: String(row.emoji), user: row.user_id as UserId, present: true }
    present.set(`${r.seq}\u0000${r.emoji}\u0000${r.user}`, r)
  }
  const reactions: Array<ReactionImage> = [...present.values()]
  for (const r of reactionEvents) {
    const key = `${r.seq}\u0000${r.emoji}\u0000${r.user}`
    if (!present.has(key)) {
      present.set(key, { ...r, present: false })
      reactions.push({ ...r, present: false })
    }
  }
  return { events, messages: messageRows.map((row) => storedMessage(row)), reactions }
}

/** The users' member rows; the named users who are not members are `removed`. All members when `users` is absent. */
export const readMembers = async (
  db: SqlClient,
  room: RoomId,
  users?: ReadonlyArray<UserId>
): Promise<{ readonly members: ReadonlyArray<MemberImage>; readonly removed: ReadonlyArray<UserId> }> => {
  const rows = await db.query(MEMBERS, [room, users === undefined ? null : [...users]])
  const members = rows.map((row) => ({
    user: row.user_id as UserId,
    role: row.role as Role,
    joinedAt: iso(row.joined_at),
    readSeq: num(row.read_seq),
    pinned: row.pinned === true
  }))
  const present = new Set(members.map((m) => m.user))
  return { members, removed: (users ?? []).filter((u) => !present.has(u)) }
}

export const readDevices = async (db: SqlClient, user: UserId): Promise<ReadonlyArray<Device>> =>
  (await db.query(DEVICES, [user])).map((row) => ({
    user: row.user_id as UserId,
    token: String(row.token),
    platform: row.platform as Platform,
    createdAt: iso(row.created_at)
  }))

/** Users with devices, after `afterUser`, in byte order (keyset pages). */
export const deviceUsers = async (db: SqlClient, afterUser: string | undefined, limit: number): Promise<ReadonlyArray<UserId>> =>
  (await db.query(DEVICE_USERS, [afterUser ?? null, limit])).map((row) => row.user_id as UserId)

export const readRoomKeys = async (db: SqlClient, room: RoomId): Promise<ReadonlyArray<WrappedRoomKey>> =>
  (await db.query(ROOM_KEYS, [room])).map(roomKey)

export const readAllRoomKeys = async (db: SqlClient): Promise<ReadonlyArray<WrappedRoomKey>> =>
  (await db.query(ALL_ROOM_KEYS)).map(roomKey)
