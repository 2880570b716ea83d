/**
 * The push queue on ScyllaDB (schema.cql push_queue / push_sent); rules in ../PushQueue.ts.
 * Rows are inserted by the commit's intent (./intent.ts). Claims are plain writes, not
 * lightweight transactions: two workers claiming at the same moment may both take an intent,
 * and the push_sent watermark then keeps the second from notifying again, except in a race
 * of the two sends themselves (docs/push.md: run one worker per ScyllaDB store).
 */
import { Effect } from "effect"
import type { RoomId } from "../../src/domain/model.ts"
import type { PushIntent, PushQueue } from "../PushQueue.ts"
import type { CqlClient } from "./CqlClient.ts"
import { iso, num, str } from "./rows.ts"
import * as S from "./statements.ts"

/** Partitions of the queue: a room's intents share one. Fixed: changing it strands rows. */
export const PUSH_PARTS = 8

/** A stable hash of the room id (FNV-1a), so every writer picks the same partition. */
export const pushPartOf = (room: RoomId): number => {
  let h = 0x811c9dc5
  const s = room.toLowerCase()
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h >>> 0) % PUSH_PARTS
}

interface QueueRow {
  readonly intent: PushIntent
  readonly leaseUntil: number
}

const CONCURRENCY = PUSH_PARTS

export const makeScyllaPushQueue = (cql: CqlClient): PushQueue => {
  const all = Effect.map(
    Effect.forEach(
      Array.from({ length: PUSH_PARTS }, (_, i) => i),
      (part) => cql.allRows("push.read", S.PUSH_QUEUE_PART, [part]),
      { concurrency: CONCURRENCY }
    ),
    (parts): Array<QueueRow> =>
      parts.flat().map((row) => ({
        intent: {
          room: str(row.room_id) as RoomId,
          fromSeq: num(row.from_seq),
          toSeq: num(row.to_seq),
          createdAt: iso(row.created_at),
          attempts: num(row.attempts)
        },
        leaseUntil: row.lease_until instanceof Date ? row.lease_until.getTime() : 0
      }))
  )
  const keyParams = (k: { readonly room: RoomId; readonly fromSeq: number }) => [pushPartOf(k.room), k.room, k.fromSeq]
  return {
    claim: ({ leaseMs, now, rooms, settleMs }) =>
      Effect.flatMap(all, (rows) => {
        const oldest = new Map<RoomId, number>()
        for (const r of rows) {
          if (r.leaseUntil > now) continue
          const t = Date.parse(r.intent.createdAt)
          const o = oldest.get(r.intent.room)
          if (o === undefined || t < o) oldest.set(r.intent.room, t)
        }
        const chosen = new Set(
          [...oldest].filter(([, t]) => t <= now - settleMs).sort((a, b) => a[1] - b[1]).slice(0, rooms).map(([room]) => room)
        )
        const claimed = rows
          .filter((r) => r.leaseUntil <= now && chosen.has(r.intent.room))
          .map((r) => ({ ...r.intent, attempts: r.intent.attempts + 1 }))
          .sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : a.fromSeq - b.fromSeq))
        return Effect.as(
          Effect.forEach(
            claimed,
            (i) => cql.write("push.claim", [{ query: S.LEASE_PUSH_INTENT, params: [new Date(now + leaseMs), i.attempts, ...keyParams(i)] }]),
            { concurrency: CONCURRENCY, discard: true }
          ),
          claimed
        )
      }),
    ack: (keys) =>
      Effect.forEach(keys, (k) => cql.write("push.ack", [{ query: S.DELETE_PUSH_INTENT, params: keyParams(k) }]), {
        concurrency: CONCURRENCY,
        discard: true
      }),
    retryAt: (keys, at) =>
      Effect.forEach(
        keys,
        (k) => cql.write("push.retryAt", [{ query: S.RETRY_PUSH_INTENT, params: [new Date(at), ...keyParams(k)] }]),
        { concurrency: CONCURRENCY, discard: true }
      ),
    stats: Effect.map(all, (rows) => {
      let oldestAt: string | undefined
      for (const r of rows) if (oldestAt === undefined || r.intent.createdAt < oldestAt) oldestAt = r.intent.createdAt
      return oldestAt === undefined ? { depth: 0 } : { depth: rows.length, oldestAt }
    }),
    sentUpTo: (room, users) =>
      users.length === 0
        ? Effect.succeed(new Map<string, number>())
        : Effect.map(
            cql.allRows("push.sentUpTo", S.PUSH_SENT_UP_TO, [room, [...users]]),
            (rows) => new Map(rows.map((r) => [str(r.recipient), num(r.seq)]))
          ),
    // The seq is the write timestamp: a lower seq written later loses (never moves back).
    markSent: (room, user, seq) => cql.write("push.markSent", [{ query: S.MARK_PUSH_SENT, params: [seq, seq, room, user] }])
  }
}
