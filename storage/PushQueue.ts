/**
 * The durable push queue: one intent per committed batch that created messages in a room,
 * written by the store IN THE SAME COMMIT as the messages (no extra round trip: one more
 * statement in the batch's writes), so an acked message always has its intent and nothing is
 * lost between commit and delivery. An intent names the room and the seq range only: who to
 * notify (members, minus each message's sender, minus who is online) is decided by the push
 * worker when it delivers (src/push/), from the events it reads back.
 *
 * The SQL stores (PostgreSQL, PGlite) and the memory store write an intent only when a
 * member of the room has a registered device at commit time (storage/sql/queries.ts
 * `ANY_MEMBER_DEVICE`): without one nobody can be notified, and the intent would cost an
 * insert, a claim and a delete. So a device registered after a message was committed is
 * notified of later messages, not of that one. The ScyllaDB store writes every intent (a
 * device lookup per member would cost it a query each); its worker acks those of rooms
 * without devices after one audience read.
 *
 * At-least-once: `claim` leases intents for a while; `ack` deletes them once delivered; a
 * worker that dies leaves its lease to expire and the intents are claimed again. Per user
 * and room, `sentUpTo`/`markSent` record the last seq notified, so a redelivered intent does
 * not notify the same user twice (see docs/push.md for the window where it can).
 *
 * Times are milliseconds since the epoch passed by the caller (its Effect clock), so every
 * store agrees with the memory one in tests.
 */
import type { Effect } from "effect"
import type { StoreError } from "../core/errors.ts"
import type { RoomId, UserId } from "../core/model.ts"

export interface PushIntentKey {
  readonly room: RoomId
  /** The batch's first message seq; with the room, the intent's key. */
  readonly fromSeq: number
}

export interface PushIntent extends PushIntentKey {
  /** The batch's last message seq. */
  readonly toSeq: number
  /** The batch's commit time (ISO 8601). */
  readonly createdAt: string
  /** Claims so far, this one included. */
  readonly attempts: number
}

export interface ClaimOptions {
  readonly now: number
  /** Rooms per claim (each with all its ready intents). */
  readonly rooms: number
  /** How long the claim holds the intents before another worker may take them. */
  readonly leaseMs: number
  /**
   * Coalescing: a room is ready once its oldest unleased intent is this old; then all of its
   * unleased intents are claimed together (a burst becomes one notification).
   */
  readonly settleMs: number
}

export interface PushQueueStats {
  readonly depth: number
  /** ISO 8601; absent when the queue is empty. */
  readonly oldestAt?: string
}

export interface PushQueue {
  readonly claim: (options: ClaimOptions) => Effect.Effect<ReadonlyArray<PushIntent>, StoreError>
  /** Delivered (or given up): the intents are deleted. */
  readonly ack: (keys: ReadonlyArray<PushIntentKey>) => Effect.Effect<void, StoreError>
  /** Not delivered yet: claimable again from `at` (ms). */
  readonly retryAt: (keys: ReadonlyArray<PushIntentKey>, at: number) => Effect.Effect<void, StoreError>
  readonly stats: Effect.Effect<PushQueueStats, StoreError>
  /** Per recipient (the worker uses one per device), the last seq of `room` notified (absent: never). */
  readonly sentUpTo: (room: RoomId, recipients: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, number>, StoreError>
  /** Raises the recipient's notified seq for the room (never lowers it). */
  readonly markSent: (room: RoomId, recipient: string, seq: number) => Effect.Effect<void, StoreError>
}

/** The batch's intent, if it created messages: what a store's commit writes (see above for when). */
export const intentOf = (
  room: RoomId,
  messages: ReadonlyArray<{ readonly seq: number }>,
  now: string
): Omit<PushIntent, "attempts"> | undefined => {
  if (messages.length === 0) return undefined
  let fromSeq = Number.POSITIVE_INFINITY
  let toSeq = 0
  for (const m of messages) {
    if (m.seq < fromSeq) fromSeq = m.seq
    if (m.seq > toSeq) toSeq = m.seq
  }
  return { room, fromSeq, toSeq, createdAt: now }
}
