/** The push queue on the SQL stores (sql/0004_push_queue.sql); rules in ../PushQueue.ts. */
import type { Effect } from "effect"
import type { StoreError } from "../../src/domain/errors.ts"
import type { RoomId } from "../../src/domain/model.ts"
import type { PushQueue } from "../PushQueue.ts"
import * as Q from "./queries.ts"
import * as R from "./rows.ts"
import type { SqlClient } from "./SqlClient.ts"

const at = (ms: number) => new Date(ms).toISOString()

export const makeSqlPushQueue = (
  db: SqlClient,
  run: <A>(operation: string, f: () => Promise<A>) => Effect.Effect<A, StoreError>
): PushQueue => ({
  claim: ({ leaseMs, now, rooms, settleMs }) =>
    run("push.claim", async () =>
      (await db.query(Q.CLAIM_PUSH_INTENTS, [at(now), at(now - settleMs), rooms, at(now + leaseMs)]))
        .map((row) => ({
          room: String(row.room_id) as RoomId,
          fromSeq: R.num(row.from_seq),
          toSeq: R.num(row.to_seq),
          createdAt: R.iso(row.created_at),
          attempts: R.num(row.attempts)
        }))
        .sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : a.fromSeq - b.fromSeq))
    ),
  ack: (keys) =>
    run("push.ack", async () => {
      if (keys.length > 0) await db.query(Q.ACK_PUSH_INTENTS, [keys.map((k) => k.room), keys.map((k) => k.fromSeq)])
    }),
  retryAt: (keys, when) =>
    run("push.retryAt", async () => {
      if (keys.length > 0) {
        await db.query(Q.RETRY_PUSH_INTENTS, [keys.map((k) => k.room), keys.map((k) => k.fromSeq), at(when)])
      }
    }),
  stats: run("push.stats", async () => {
    const [row] = await db.query(Q.PUSH_QUEUE_STATS)
    const depth = R.num(row?.depth ?? 0)
    return row?.oldest === null || row?.oldest === undefined ? { depth } : { depth, oldestAt: R.iso(row.oldest) }
  }),
  sentUpTo: (room, users) =>
    run("push.sentUpTo", async () => {
      if (users.length === 0) return new Map<string, number>()
      const rows = await db.query(Q.PUSH_SENT_UP_TO, [room, users])
      return new Map(rows.map((r) => [String(r.recipient), R.num(r.seq)]))
    }),
  markSent: (room, user, seq) =>
    run("push.markSent", async () => {
      await db.query(Q.MARK_PUSH_SENT, [room, user, seq])
    })
})
