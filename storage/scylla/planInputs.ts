/**
 * What plan() needs besides the head: the messages the ops name, earlier sends of the batch's
 * (sender, clientMsgId) pairs and the existing state of the reactions they touch. Every read is
 * a single partition (a bucket, an idempotency key, a reaction row), issued concurrently.
 */
import { Effect } from "effect"
import type { StoreError } from "../../core/errors.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import type { WriteOp } from "../../core/ops.ts"
import { idempotencyKey, reactionKey, referencedSeqs, sendKeys, type StoredMessage } from "../../core/plan.ts"
import { bucketOf, byBucket } from "./buckets.ts"
import type { CqlClient } from "./CqlClient.ts"
import { iso, num, storedMessage, str } from "./rows.ts"
import * as S from "./statements.ts"

const READ_CONCURRENCY = 16

/** Messages of a room by seq, one query per bucket. */
export const loadMessages = (
  cql: CqlClient,
  operation: string,
  room: RoomId,
  seqs: ReadonlyArray<number>
): Effect.Effect<Map<number, StoredMessage>, StoreError> =>
  Effect.map(
    Effect.forEach(
      byBucket([...new Set(seqs)], (s) => s),
      ([bucket, inBucket]) => cql.rows(operation, S.MESSAGES_AT, [room, bucket, inBucket]),
      { concurrency: READ_CONCURRENCY }
    ),
    (pages) => new Map(pages.flat().map((row) => [num(row.seq), storedMessage(row)] as const))
  )

/**
 * Earlier sends, from the idempotency table. plan() uses them only for the Duplicate ack
 * (seq, id, ts), which is what that table keeps; the rest of the StoredMessage is filler.
 */
const loadSent = (cql: CqlClient, room: RoomId, ops: ReadonlyArray<WriteOp>) => {
  const keys = new Map(sendKeys(ops).map((k) => [idempotencyKey(k.sender, k.clientMsgId), k] as const))
  return Effect.map(
    Effect.forEach(
      [...keys.values()],
      (k) =>
        Effect.map(cql.rows("commit", S.FIND_SEND, [room, k.sender, k.clientMsgId]), ([row]) =>
          row === undefined
            ? []
            : [
                [
                  idempotencyKey(k.sender, k.clientMsgId),
                  {
                    seq: num(row.seq),
                    id: str(row.message_id),
                    sender: k.sender,
                    body: null,
                    ts: iso(row.ts),
                    clientMsgId: k.clientMsgId,
                    deleted: false
                  } satisfies StoredMessage
                ] as const
              ]
        ),
      { concurrency: READ_CONCURRENCY }
    ),
    (found) => new Map(found.flat())
  )
}

const loadReactions = (cql: CqlClient, room: RoomId, ops: ReadonlyArray<WriteOp>) => {
  const wanted = new Map<string, { seq: number; emoji: string; user: UserId }>()
  for (const op of ops) {
    if (op._tag === "React") wanted.set(reactionKey(op.seq, op.emoji, op.actor), { seq: op.seq, emoji: op.emoji, user: op.actor })
  }
  return Effect.map(
    Effect.forEach(
      [...wanted],
      ([key, r]) =>
        Effect.map(cql.rows("commit", S.HAS_REACTION, [room, bucketOf(r.seq), r.seq, r.emoji, r.user]), (rows) =>
          rows.length > 0 ? [key] : []
        ),
      { concurrency: READ_CONCURRENCY }
    ),
    (found) => new Set(found.flat())
  )
}

export const loadPlanInputs = (cql: CqlClient, room: RoomId, ops: ReadonlyArray<WriteOp>) =>
  Effect.all(
    {
      targets: loadMessages(cql, "commit", room, referencedSeqs(ops)),
      sent: loadSent(cql, room, ops),
      reactions: loadReactions(cql, room, ops)
    },
    { concurrency: 3 }
  )
