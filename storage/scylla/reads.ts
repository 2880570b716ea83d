/**
 * History and replay: walks of the bucketed partitions, newest bucket first (history) or
 * oldest first (replay), each step one slice of one partition, bounded by the room's last seq
 * so a walk knows where the room ends.
 */
import { Effect } from "effect"
import type { StoreError } from "../../core/errors.ts"
import type { ChatEvent, EventKind, Message, RoomId, UserId } from "../../core/model.ts"
import type { HistoryPage } from "../ChatStore.ts"
import { byteOrder } from "../byteOrder.ts"
import { type StoredMessage, toMessage } from "../../core/plan.ts"
import { BUCKET_SIZE, bucketOf, byBucket } from "./buckets.ts"
import type { CqlClient, Row } from "./CqlClient.ts"
import { loadHeadSummary } from "./head.ts"
import { loadMessages } from "./planInputs.ts"
import { iso, num, optNum, storedMessage, str } from "./rows.ts"
import * as S from "./statements.ts"

/** Newest-first messages with seq < `upper`, walking buckets down until `want` rows or bucket 0. */
export const messagesBefore = (
  cql: CqlClient,
  operation: string,
  room: RoomId,
  upper: number,
  want: number,
  keep: (m: StoredMessage) => boolean = () => true,
  /** Rows asked per query at least: more than `want` when `keep` may refuse some. */
  minFetch = 1
): Effect.Effect<Array<StoredMessage>, StoreError> =>
  Effect.gen(function* () {
    const out: Array<StoredMessage> = []
    let below = upper
    for (let bucket = bucketOf(upper - 1); bucket >= 0 && below > 0 && out.length < want; ) {
      const asked = Math.max(want - out.length, minFetch)
      const page = yield* cql.rows(operation, S.MESSAGES_BEFORE, [room, bucket, below, asked])
      for (const row of page) {
        const m = storedMessage(row)
        if (keep(m)) out.push(m)
      }
      if (page.length < asked) {
        // Nothing older in this bucket: continue below its first seq, in the next one down.
        below = Math.min(below, bucket * BUCKET_SIZE)
        bucket -= 1
      } else {
        below = num(page[page.length - 1].seq)
      }
    }
    return out.slice(0, want)
  })

/** `{ emoji: [users] }` of each live message, users in byte order. */
const reactionsOf = (cql: CqlClient, room: RoomId, messages: ReadonlyArray<StoredMessage>) =>
  Effect.map(
    Effect.forEach(
      byBucket(
        messages.filter((m) => !m.deleted),
        (m) => m.seq
      ),
      ([bucket, ms]) =>
        cql.rows("history", S.REACTIONS_BETWEEN, [
          room,
          bucket,
          Math.min(...ms.map((m) => m.seq)),
          Math.max(...ms.map((m) => m.seq))
        ]),
      { concurrency: 4 }
    ),
    (pages) => {
      const bySeq = new Map<number, Record<string, Array<UserId>>>()
      for (const row of pages.flat()) {
        const seq = num(row.seq)
        const emojis = bySeq.get(seq) ?? {}
        bySeq.set(seq, emojis)
        ;(emojis[str(row.emoji)] ??= []).push(str(row.user_id) as UserId)
      }
      for (const emojis of bySeq.values()) for (const users of Object.values(emojis)) users.sort(byteOrder)
      return bySeq
    }
  )

export const history = (cql: CqlClient, room: RoomId, before: number | undefined, limit: number) =>
  Effect.gen(function* () {
    const head = yield* loadHeadSummary(cql, "history", room)
    if (head === undefined) return { messages: [], hasMore: false } satisfies HistoryPage
    const upper = Math.min(before ?? Number.MAX_SAFE_INTEGER, head.lastSeq + 1)
    const rows = upper <= 1 ? [] : yield* messagesBefore(cql, "history", room, upper, limit + 1)
    const page = rows.slice(0, limit)
    const reactions = yield* reactionsOf(cql, room, page)
    const messages = page.map((m): Message => {
      const r = m.deleted ? undefined : reactions.get(m.seq)
      return { ...toMessage(room, m, m.body ?? ""), ...(r !== undefined ? { reactions: r } : {}) }
    })
    return { messages, hasMore: rows.length > limit } satisfies HistoryPage
  })

const toEvent = (room: RoomId, row: Row, targets: ReadonlyMap<number, StoredMessage>): ChatEvent => {
  const targetSeq = optNum(row.target_seq)
  const target = targetSeq === undefined ? undefined : targets.get(targetSeq)
  const data =
    targetSeq === undefined
      ? JSON.parse(str(row.data))
      : target === undefined
        ? null
        : toMessage(room, target, target.body ?? "")
  return { room, seq: num(row.seq), ts: iso(row.ts), kind: str(row.kind) as EventKind, actor: str(row.actor) as UserId, data }
}

export const events = (cql: CqlClient, room: RoomId, after: number, upTo: number, limit: number) =>
  Effect.gen(function* () {
    const head = yield* loadHeadSummary(cql, "events", room)
    if (head === undefined) return []
    const last = Math.min(upTo, head.lastSeq)
    const rows: Array<Row> = []
    for (let bucket = bucketOf(after + 1); bucket <= bucketOf(last) && rows.length < limit && last > after; bucket++) {
      rows.push(...(yield* cql.rows("events", S.EVENTS_BETWEEN, [room, bucket, after, last, limit - rows.length])))
    }
    const targetSeqs = rows.flatMap((r) => (r.target_seq === null || r.target_seq === undefined ? [] : [num(r.target_seq)]))
    const targets = yield* loadMessages(cql, "events", room, targetSeqs)
    return rows.map((row) => toEvent(room, row, targets))
  })
