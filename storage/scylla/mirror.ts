/**
 * Importing rows that another store already committed: the one path by which PostgreSQL's
 * rooms reach ScyllaDB, used by dual-write (storage/dual/) and by the backfill
 * (storage/migrate/). Nothing here decides anything: seqs, epochs and bodies (ciphertext)
 * arrive as the source stored them, so ScyllaDB mirrors the source's seqs exactly.
 *
 * Every import is idempotent and ordered by write timestamp: the caller takes one timestamp
 * (`beginImport`) BEFORE it reads the source, and every cell of the import carries it. Two
 * imports of the same room (a live dual-write and a backfill or an outbox replay, even on
 * two nodes) may land in any order; the one that read the source later has the larger
 * timestamp, so its cells win in every replica. The timestamp is also above the room head's
 * `write_ts`, which keeps the ScyllaDB store's own commits (after the switch) above it.
 *
 * The head is written plainly, not through a lightweight transaction: while a room is being
 * mirrored nobody commits to it on ScyllaDB, and the first commit after the switch claims the
 * head with `IF version = <read>` as always (`version` moves with every import).
 */
import { Effect } from "effect"
import type { StoreError } from "../../core/errors.ts"
import type { Device, Role, RoomId, RoomKind, UserId } from "../../core/model.ts"
import type { WrappedRoomKey } from "../ChatStore.ts"
import type { StoredEvent, StoredMessage } from "../../core/plan.ts"
import { bucketOf, byBucket } from "./buckets.ts"
import type { CqlClient, Statement } from "./CqlClient.ts"
import { type Head, loadHead } from "./head.ts"
import { date, device } from "./rows.ts"
import * as S from "./statements.ts"
import type { WriteClock } from "./writeClock.ts"

/** A room's head as the source has it. */
export interface RoomImage {
  readonly id: RoomId
  readonly kind: RoomKind
  readonly name?: string | undefined
  readonly createdAt: string
  readonly lastActivityAt: string
  readonly lastSeq: number
  readonly epoch: number
  /** Direct rooms: the pair in byte order. */
  readonly pair?: readonly [UserId, UserId] | undefined
}

export interface MemberImage {
  readonly user: UserId
  readonly role: Role
  readonly joinedAt: string
  readonly readSeq: number
  readonly pinned: boolean
}

/** A reaction's current state: present rows are written, absent ones deleted. */
export interface ReactionImage {
  readonly seq: number
  readonly emoji: string
  readonly user: UserId
  readonly present: boolean
}

/** Rows of one room, as they are now at the source. Messages are whole rows (edits, tombstones). */
export interface RoomRows {
  readonly events: ReadonlyArray<StoredEvent>
  readonly messages: ReadonlyArray<StoredMessage>
  readonly reactions: ReadonlyArray<ReactionImage>
  readonly members: ReadonlyArray<MemberImage>
  readonly removedMembers: ReadonlyArray<UserId>
}

export interface ImportStamp {
  readonly room: RoomId
  /** Microseconds; the write timestamp of every cell of this import. */
  readonly ts: number
  readonly previous: Head | undefined
}

// Statements only the import needs. Each names its table's whole partition key.
export const IMPORT_HEAD = `
UPDATE room_head USING TIMESTAMP ? SET kind = ?, name = ?, created_at = ?, last_activity_at = ?, last_seq = ?,
  epoch = ?, version = ?, write_ts = ?, intent = ? WHERE room_id = ?`

export const IMPORT_USER_ROOM = `
INSERT INTO rooms_by_user (user_id, room_id, role, joined_at, pinned) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`

export const IMPORT_DIRECT_PAIR = `
INSERT INTO direct_rooms_by_pair (user_a, user_b, room_id, created_at, write_ts) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`

export const IMPORT_FIRST_KEY = "UPDATE room_keys SET first_key_id = ? WHERE room_id = ?"

export const IMPORT_DEVICE = "INSERT INTO devices_by_user (user_id, device_token, platform, created_at) VALUES (?, ?, ?, ?)"

export const DROP_DEVICE = "DELETE FROM devices_by_user WHERE user_id = ? AND device_token = ?"

/** Statements per unlogged batch; rows are small, this keeps batches far below 1 MiB. */
const BATCH = 50
/** Partitions written at once. */
const CONCURRENCY = 16

const chunks = (statements: ReadonlyArray<Statement>): Array<ReadonlyArray<Statement>> => {
  const out: Array<ReadonlyArray<Statement>> = []
  for (let i = 0; i < statements.length; i += BATCH) out.push(statements.slice(i, i + BATCH))
  return out
}

const writeGroups = (cql: CqlClient, groups: ReadonlyArray<ReadonlyArray<Statement>>) =>
  Effect.forEach(groups, (g) => cql.write("import", g), { concurrency: CONCURRENCY, discard: true })

/** Takes the import's timestamp; call it before reading the source. */
export const beginImport = (cql: CqlClient, clock: WriteClock, room: RoomId): Effect.Effect<ImportStamp, StoreError> =>
  Effect.map(loadHead(cql, "import", room), (previous) => ({
    room,
    previous,
    ts: clock(previous === undefined ? 0 : previous.writeTs + 1)
  }))

export const importRows = (cql: CqlClient, stamp: ImportStamp, rows: RoomRows): Effect.Effect<void, StoreError> => {
  const { room, ts } = stamp
  const groups: Array<ReadonlyArray<Statement>> = []
  for (const [, ms] of byBucket(rows.messages, (m) => m.seq)) {
    groups.push(
      ...chunks(
        ms.map((m) => ({
          query: S.INSERT_MESSAGE,
          params: [
            room, bucketOf(m.seq), m.seq, m.id, m.sender,
            // A tombstone's null body is meant (it erases); other absent values stay unset.
            m.deleted ? null : m.body, date(m.ts), m.replyTo, m.clientMsgId,
            m.editedAt === undefined ? undefined : date(m.editedAt), m.deleted, ts
          ]
        }))
      )
    )
  }
  for (const [bucket, es] of byBucket(rows.events, (e) => e.seq)) {
    groups.push(
      ...chunks(
        es.map((e) => ({
          query: S.INSERT_EVENT,
          params: [
            room, bucket, e.seq, e.kind, e.actor, date(e.ts), e.targetSeq,
            e.targetSeq === undefined ? JSON.stringify(e.data ?? null) : undefined, undefined, ts
          ]
        }))
      )
    )
  }
  for (const [bucket, rs] of byBucket(rows.reactions, (r) => r.seq)) {
    groups.push(
      ...chunks(
        rs.map((r) =>
          r.present
            ? { query: S.INSERT_REACTION, params: [room, bucket, r.seq, r.emoji, r.user, ts] }
            : { query: S.DELETE_REACTION, params: [ts, room, bucket, r.seq, r.emoji, r.user] }
        )
      )
    )
  }
  for (const m of rows.messages) {
    if (m.clientMsgId === undefined) continue
    groups.push([{ query: S.INSERT_SEND, params: [room, m.sender, m.clientMsgId, m.seq, m.id, date(m.ts), ts] }])
  }
  groups.push(
    ...chunks([
      ...rows.members.map((m) => ({ query: S.INSERT_MEMBER, params: [room, m.user, m.role, date(m.joinedAt), ts] })),
      ...rows.removedMembers.map((user) => ({ query: S.DELETE_MEMBER, params: [ts, room, user] }))
    ])
  )
  for (const m of rows.members) {
    groups.push([{ query: IMPORT_USER_ROOM, params: [m.user, room, m.role, date(m.joinedAt), m.pinned, ts] }])
    // read_positions keeps the seq as its timestamp (forward only), as the store writes it.
    if (m.readSeq > 0) groups.push([{ query: S.ADVANCE_READ, params: [m.readSeq, m.readSeq, m.user, room] }])
  }
  for (const user of rows.removedMembers) groups.push([{ query: S.DELETE_USER_ROOM, params: [ts, user, room] }])
  return writeGroups(cql, groups.filter((g) => g.length > 0))
}

/** Written last: once the head shows a seq, the rows up to it are there. */
export const importHead = (cql: CqlClient, stamp: ImportStamp, image: RoomImage): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    const { ts, previous } = stamp
    if (image.pair !== undefined) {
      const [a, b] = image.pair
      yield* cql.write("import", [
        { query: IMPORT_DIRECT_PAIR, params: [a, b, image.id, date(image.createdAt), ts, ts] }
      ])
    }
    yield* cql.write("import", [
      {
        query: IMPORT_HEAD,
        params: [
          ts, image.kind, image.name, date(image.createdAt), date(image.lastActivityAt), image.lastSeq, image.epoch,
          (previous?.version ?? 0) + 1, ts,
          // A leftover intent (from commits on this side before a rollback) is cleared: the source's rows replace it.
          previous?.intent === undefined ? undefined : null,
          image.id
        ]
      }
    ])
  })

/** Key rows are immutable but for re-wrapping; the oldest key is the room's first. */
export const importRoomKeys = (cql: CqlClient, keys: ReadonlyArray<WrappedRoomKey>): Effect.Effect<void, StoreError> => {
  const byRoom = new Map<string, Array<WrappedRoomKey>>()
  for (const k of keys) byRoom.set(k.room, [...(byRoom.get(k.room) ?? []), k])
  const groups = [...byRoom.values()].map((ks): ReadonlyArray<Statement> => {
    const first = [...ks].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))[0]
    return [
      { query: IMPORT_FIRST_KEY, params: [first.keyId, first.room] },
      ...ks.map((k) => ({ query: S.INSERT_ROOM_KEY, params: [k.room, k.keyId, k.masterKeyId, k.wrapped, date(k.createdAt)] }))
    ]
  })
  return writeGroups(cql, groups)
}

/** Makes a user's device rows what the source has: missing ones written, extra ones dropped. */
export const importDevices = (cql: CqlClient, user: UserId, devices: ReadonlyArray<Device>): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    const existing = (yield* cql.allRows("import", S.LIST_DEVICES, [user])).map(device)
    const keep = new Set(devices.map((d) => d.token))
    const statements: Array<Statement> = [
      ...devices.map((d) => ({ query: IMPORT_DEVICE, params: [user, d.token, d.platform, date(d.createdAt)] })),
      ...existing.filter((d) => !keep.has(d.token)).map((d) => ({ query: DROP_DEVICE, params: [user, d.token] }))
    ]
    yield* writeGroups(cql, chunks(statements))
  })
