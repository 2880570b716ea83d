/**
 * A batch's intent: every row a committed batch writes, decided by plan() before the claim and
 * stored (as JSON) in room_head by the same lightweight transaction that claims the seqs. The
 * claim and the intent are one atomic write, so a writer that dies after claiming leaves a
 * complete description of what it meant to write, and whoever reads the head next writes it
 * (./commit.ts). Applying an intent is idempotent: the same cells with the same values and the
 * same `writeTs`, which is larger than any earlier batch's of the room, so applying it late
 * never undoes a later batch.
 */
import type { Role, RoomId, UserId } from "../../src/domain/model.ts"
import type { Plan, Reaction, StoredEvent, StoredMessage } from "../plan.ts"
import { bucketOf, byBucket } from "./buckets.ts"
import type { Statement } from "./CqlClient.ts"
import { date } from "./rows.ts"
import { intentOf } from "../PushQueue.ts"
import { pushPartOf } from "./pushQueue.ts"
import * as S from "./statements.ts"

export interface Intent {
  /** Identifies this batch among the room's writers (room_head.commit_id, events_by_room.commit_id). */
  readonly commitId: string
  /** Microseconds; the write timestamp of every cell the batch writes. */
  readonly writeTs: number
  /** The batch's time (from the Effect clock): message ts, event ts, joined_at. */
  readonly now: string
  readonly lastSeq: number
  readonly messages: ReadonlyArray<StoredMessage>
  readonly events: ReadonlyArray<StoredEvent>
  readonly edits: Plan["edits"]
  readonly deletes: ReadonlyArray<number>
  readonly reactionsAdded: ReadonlyArray<Reaction>
  readonly reactionsRemoved: ReadonlyArray<Reaction>
  /** Users who were not members before this batch. */
  readonly membersAdded: ReadonlyArray<{ readonly user: UserId; readonly role: Role }>
  readonly rolesChanged: ReadonlyArray<{ readonly user: UserId; readonly role: Role }>
  readonly membersRemoved: ReadonlyArray<UserId>
}

export const makeIntent = (
  p: Plan,
  before: ReadonlyMap<UserId, Role>,
  commitId: string,
  writeTs: number,
  now: string
): Intent => ({
  commitId,
  writeTs,
  now,
  lastSeq: p.lastSeq,
  messages: p.messages,
  events: p.events,
  edits: p.edits,
  deletes: p.deletes,
  reactionsAdded: p.reactionsAdded,
  reactionsRemoved: p.reactionsRemoved,
  membersAdded: p.membersUpserted.filter((m) => !before.has(m.user)),
  rolesChanged: p.membersUpserted.filter((m) => before.has(m.user)),
  membersRemoved: p.membersRemoved
})

const FORMAT = 1

export const encodeIntent = (intent: Intent): string => JSON.stringify({ format: FORMAT, ...intent })

export const decodeIntent = (text: string): Intent => {
  const { format, ...intent } = JSON.parse(text) as Intent & { readonly format?: unknown }
  if (format !== FORMAT) throw new Error(`unknown intent format ${String(format)}`)
  return intent
}

/**
 * Past this many statements (or about this many bytes of values) a partition's rows go in
 * several batches: ScyllaDB refuses batches over 1 MiB by default (batch_size_fail_threshold).
 */
const MAX_BATCH_STATEMENTS = 100
const MAX_BATCH_BYTES = 256 * 1024

const approxBytes = (s: Statement) =>
  s.params.reduce<number>((n, v) => n + (typeof v === "string" ? v.length * 3 : 16), s.query.length)

const chunked = (statements: ReadonlyArray<Statement>): Array<Array<Statement>> => {
  const out: Array<Array<Statement>> = []
  let current: Array<Statement> = []
  let bytes = 0
  for (const s of statements) {
    const size = approxBytes(s)
    if (current.length > 0 && (current.length >= MAX_BATCH_STATEMENTS || bytes + size > MAX_BATCH_BYTES)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(s)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}

/**
 * Absent optional values are passed as `undefined`, which cassandra-driver sends as "unset":
 * a null would write a tombstone cell for every empty column of every row. A deleted message's
 * null body is meant: that tombstone is the erasure.
 *
 * The writes of an intent, grouped so that each inner array touches one partition (sent as
 * one unlogged batch). Groups are independent and may run concurrently, in any order.
 */
export const intentWrites = (room: RoomId, intent: Intent): ReadonlyArray<ReadonlyArray<Statement>> => {
  const ts = intent.writeTs
  const groups: Array<Array<Statement>> = []

  // messages_by_room: new rows, edits and tombstones, per bucket.
  type MessageWrite = { readonly seq: number; readonly statement: Statement }
  const messageWrites: Array<MessageWrite> = [
    ...intent.messages.map((m) => ({
      seq: m.seq,
      statement: {
        query: S.INSERT_MESSAGE,
        params: [
          room, bucketOf(m.seq), m.seq, m.id, m.sender, m.body, date(m.ts), m.replyTo,
          m.clientMsgId, m.editedAt === undefined ? undefined : date(m.editedAt), m.deleted, ts
        ]
      }
    })),
    ...intent.edits.map((e) => ({
      seq: e.seq,
      statement: { query: S.EDIT_MESSAGE, params: [ts, e.body, date(e.editedAt), room, bucketOf(e.seq), e.seq] }
    })),
    ...intent.deletes.map((seq) => ({
      seq,
      statement: { query: S.ERASE_MESSAGE, params: [ts, room, bucketOf(seq), seq] }
    }))
  ]
  for (const [, ws] of byBucket(messageWrites, (w) => w.seq)) groups.push(...chunked(ws.map((w) => w.statement)))

  for (const [bucket, es] of byBucket(intent.events, (e) => e.seq)) {
    groups.push(
      ...chunked(
        es.map((e) => ({
          query: S.INSERT_EVENT,
          params: [
            room, bucket, e.seq, e.kind, e.actor, date(e.ts), e.targetSeq,
            e.targetSeq === undefined ? JSON.stringify(e.data ?? null) : undefined, intent.commitId, ts
          ]
        }))
      )
    )
  }

  const reactionWrites = [
    ...intent.reactionsRemoved.map((r) => ({
      seq: r.seq,
      statement: { query: S.DELETE_REACTION, params: [ts, room, bucketOf(r.seq), r.seq, r.emoji, r.user] }
    })),
    ...intent.reactionsAdded.map((r) => ({
      seq: r.seq,
      statement: { query: S.INSERT_REACTION, params: [room, bucketOf(r.seq), r.seq, r.emoji, r.user, ts] }
    }))
  ]
  for (const [, ws] of byBucket(reactionWrites, (w) => w.seq)) groups.push(...chunked(ws.map((w) => w.statement)))

  // Idempotency rows: one partition each.
  for (const m of intent.messages) {
    if (m.clientMsgId === undefined) continue
    groups.push([
      { query: S.INSERT_SEND, params: [room, m.sender, m.clientMsgId, m.seq, m.id, date(m.ts), ts] }
    ])
  }

  // Members: the room's partition, plus one partition per user (their room list and read position).
  const joinedAt = date(intent.now)
  const memberRows: Array<Statement> = [
    ...intent.membersAdded.map((m) => ({ query: S.INSERT_MEMBER, params: [room, m.user, m.role, joinedAt, ts] })),
    ...intent.rolesChanged.map((m) => ({ query: S.SET_MEMBER_ROLE, params: [ts, m.role, room, m.user] })),
    ...intent.membersRemoved.map((user) => ({ query: S.DELETE_MEMBER, params: [ts, room, user] }))
  ]
  groups.push(...chunked(memberRows))
  for (const m of intent.membersAdded) {
    groups.push([{ query: S.INSERT_USER_ROOM, params: [m.user, room, m.role, joinedAt, ts] }])
    // A new member starts caught up; the seq is the timestamp (see statements.ts).
    groups.push([{ query: S.ADVANCE_READ, params: [intent.lastSeq, intent.lastSeq, m.user, room] }])
  }
  for (const m of intent.rolesChanged) groups.push([{ query: S.SET_USER_ROOM_ROLE, params: [ts, m.role, m.user, room] }])
  for (const user of intent.membersRemoved) groups.push([{ query: S.DELETE_USER_ROOM, params: [ts, user, room] }])

  // The push intent of the batch's new messages (./pushQueue.ts): its own partition.
  const push = intentOf(room, intent.messages, intent.now)
  if (push !== undefined) {
    groups.push([
      { query: S.INSERT_PUSH_INTENT, params: [pushPartOf(room), room, push.fromSeq, push.toSeq, date(push.createdAt), ts] }
    ])
  }

  return groups.filter((g) => g.length > 0)
}
