/**
 * A group of room batches (one per room), inside one transaction: lock the shard fences and
 * the rooms' heads, check the fencing epochs, load what the ops refer to, let plan() decide
 * each room, persist every plan. Every statement covers all the rooms of the group (unnest
 * of parallel arrays with a room per row) and empty ones are skipped, so a group costs at
 * most a dozen statements whatever its size, sent in two round trips on PostgreSQL
 * (BEGIN, locks and loads; writes and COMMIT).
 *
 * A room's outcome depends only on its own rows: a fenced or missing room writes nothing
 * and the others go on.
 */
import { NotFound } from "../../core/errors.ts"
import type { Role, RoomId, RoomKind, UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import {
  idempotencyKey,
  type Plan,
  plan,
  reactionKey,
  referencedSeqs,
  sendKeys,
  type StoredMessage
} from "../../core/plan.ts"
import { intentOf } from "../PushQueue.ts"
import * as Q from "./queries.ts"
import { num, storedMessage } from "./rows.ts"
import type { Row, SqlClient, SqlTransaction } from "./SqlClient.ts"

export type CommitOutcome =
  | {
      readonly _tag: "Done"
      readonly results: ReadonlyArray<OpResult>
      /** The room's last seq after the commit (absent when the room does not exist). */
      readonly lastSeq?: number
    }
  | { readonly _tag: "Fenced"; readonly currentEpoch: number }

/** One room's batch. */
export interface RoomBatch {
  readonly room: RoomId
  readonly epoch: number
  readonly members: ReadonlyMap<UserId, Role>
  readonly ops: ReadonlyArray<WriteOp>
  readonly now: string
  /** Clustered mode: the shard whose fence the commit must respect. */
  readonly shard?: number | undefined
}

interface Loaded {
  readonly targets: Map<number, StoredMessage>
  readonly sent: Map<string, StoredMessage>
  readonly reactions: Set<string>
}

/** Rows keyed by room id, as the lowercase text both drivers return for uuid. */
const byRoom = <A>(rows: ReadonlyArray<Row>, f: (row: Row) => A): Map<string, Array<A>> => {
  const out = new Map<string, Array<A>>()
  for (const row of rows) {
    const key = String(row.room_id)
    const list = out.get(key)
    if (list === undefined) out.set(key, [f(row)])
    else list.push(f(row))
  }
  return out
}

/** Column arrays built row by row: `add` pushes one value per column. */
const columns = (n: number) => {
  const cols: Array<Array<unknown>> = Array.from({ length: n }, () => [])
  return {
    cols,
    add: (...values: Array<unknown>) => {
      for (let i = 0; i < n; i++) cols[i]!.push(values[i])
    },
    get size() {
      return cols[0]!.length
    }
  }
}

export const commitGroup = async (
  tx: SqlTransaction,
  batches: ReadonlyArray<RoomBatch>
): Promise<Array<CommitOutcome>> => {
  // Statements that do not depend on each other's results are issued together: a driver
  // that pipelines (postgres.js) sends them in one round trip, and the server runs them in
  // the order sent. So the loads go out with the locks: each starts once the locks before
  // it are held, and reads what every earlier writer of those rooms committed. (A load for
  // a room that turns out fenced or missing is wasted, and harmless.)
  const shards = [...new Set(batches.flatMap((b) => (b.shard === undefined ? [] : [b.shard])))]
  const locked = Promise.all([
    shards.length === 0 ? Promise.resolve([]) : tx.query(Q.LOCK_SHARD_FENCES, [shards]),
    tx.query(Q.LOCK_ROOMS, [batches.map((b) => b.room)])
  ])
  const loading = load(tx, batches)
  const [[fenceRows, headRows], loadedAll] = await Promise.all([locked, loading])
  const fences = new Map(fenceRows.map((r) => [num(r.shard), num(r.epoch)]))
  const heads = new Map(headRows.map((r) => [String(r.id), r]))

  const outcomes: Array<CommitOutcome | undefined> = []
  const live: Array<{ index: number; batch: RoomBatch; head: Row }> = []
  batches.forEach((batch, index) => {
    const fence = batch.shard === undefined ? undefined : fences.get(batch.shard)
    const head = heads.get(batch.room.toLowerCase())
    if (fence !== undefined && batch.epoch < fence) {
      outcomes[index] = { _tag: "Fenced", currentEpoch: fence }
    } else if (head === undefined) {
      const missing = new NotFound({ message: "room not found" })
      outcomes[index] = { _tag: "Done", results: batch.ops.map(() => ({ _tag: "Rejected", error: missing })) }
    } else if (batch.epoch < num(head.epoch)) {
      outcomes[index] = { _tag: "Fenced", currentEpoch: num(head.epoch) }
    } else {
      live.push({ index, batch, head })
    }
  })

  const loaded = live.map((l) => loadedAll[l.index]!)
  const plans = live.map(({ batch, head }, i) =>
    plan({
      room: batch.room,
      kind: head.kind as RoomKind,
      lastSeq: num(head.last_seq),
      members: batch.members,
      ops: batch.ops,
      ...loaded[i]!,
      now: batch.now
    })
  )
  const writes = persist(tx, live, plans)
  // The COMMIT goes out with the writes (where the driver can): one round trip for both.
  tx.commitNow?.()
  await Promise.all(writes)
  live.forEach(({ index }, i) => {
    outcomes[index] = { _tag: "Done", results: plans[i]!.results, lastSeq: plans[i]!.lastSeq }
  })
  return outcomes as Array<CommitOutcome>
}

/** What each batch's ops refer to: targets, earlier sends, existing reactions (three statements at most). */
const load = async (tx: SqlClient, batches: ReadonlyArray<RoomBatch>): Promise<Array<Loaded>> => {
  const targetKeys = columns(2)
  const sentKeys = columns(3)
  const reactKeys = columns(4)
  for (const b of batches) {
    for (const seq of referencedSeqs(b.ops)) targetKeys.add(b.room, seq)
    for (const k of sendKeys(b.ops)) sentKeys.add(b.room, k.sender, k.clientMsgId)
    for (const op of b.ops) if (op._tag === "React") reactKeys.add(b.room, op.seq, op.emoji, op.actor)
  }
  const [targets, sent, reactions] = await Promise.all([
    targetKeys.size === 0 ? [] : tx.query(Q.LOAD_TARGETS, targetKeys.cols),
    sentKeys.size === 0 ? [] : tx.query(Q.LOAD_SENT, sentKeys.cols),
    reactKeys.size === 0 ? [] : tx.query(Q.LOAD_REACTIONS, reactKeys.cols)
  ])
  const targetsBy = byRoom(targets, storedMessage)
  const sentBy = byRoom(sent, storedMessage)
  const reactionsBy = byRoom(reactions, (r) => reactionKey(num(r.seq), String(r.emoji), String(r.user_id)))
  return batches.map((b) => {
    const key = b.room.toLowerCase()
    return {
      targets: new Map((targetsBy.get(key) ?? []).map((m) => [m.seq, m])),
      sent: new Map((sentBy.get(key) ?? []).map((m) => [idempotencyKey(m.sender, m.clientMsgId ?? ""), m])),
      reactions: new Set(reactionsBy.get(key) ?? [])
    }
  })
}

/**
 * The plans' writes, issued at once and in this order (statements run in the order sent;
 * order matters only for foreign keys: messages before the reactions that point at them).
 */
const persist = (
  tx: SqlClient,
  live: ReadonlyArray<{ readonly batch: RoomBatch; readonly head: Row }>,
  plans: ReadonlyArray<Plan>
): Array<Promise<unknown>> => {
  const messages = columns(9)
  const events = columns(7)
  const edits = columns(4)
  const deletes = columns(2)
  const reactionsRemoved = columns(4)
  const reactionsAdded = columns(4)
  const membersUpserted = columns(5)
  const membersRemoved = columns(2)
  const heads = columns(5)
  const intents = columns(4)
  live.forEach(({ batch, head }, i) => {
    const p = plans[i]!
    const { room, now } = batch
    for (const m of p.messages) {
      messages.add(room, m.seq, m.id, m.sender, m.body, now, m.replyTo ?? null, m.clientMsgId ?? null, m.editedAt ?? null)
    }
    for (const e of p.events) {
      // A message is its own `message.created` event (Q.REPLAY reads it from messages).
      if (e.kind === "message.created") continue
      // Passed as text and cast in SQL: a driver given a string for a jsonb parameter may
      // JSON-encode it a second time.
      const data = e.targetSeq === undefined ? JSON.stringify(e.data ?? null) : null
      events.add(room, e.seq, e.kind, e.actor, now, e.targetSeq ?? null, data)
    }
    const intent = intentOf(room, p.messages, now)
    if (intent !== undefined) intents.add(room, intent.fromSeq, intent.toSeq, now)
    for (const e of p.edits) edits.add(room, e.seq, e.body, now)
    for (const seq of p.deletes) deletes.add(room, seq)
    for (const r of p.reactionsRemoved) reactionsRemoved.add(room, r.seq, r.emoji, r.user)
    for (const r of p.reactionsAdded) reactionsAdded.add(room, r.seq, r.emoji, r.user)
    for (const u of p.membersUpserted) membersUpserted.add(room, u.user, u.role, p.lastSeq, now)
    for (const user of p.membersRemoved) membersRemoved.add(room, user)
    if (p.events.length > 0 || batch.epoch > num(head.epoch) || p.name !== undefined) {
      heads.add(room, p.lastSeq, batch.epoch, p.name ?? null, p.events.length > 0 ? now : null)
    }
  })
  const writes: Array<Promise<unknown>> = []
  const write = (statement: string, c: ReturnType<typeof columns>) => {
    if (c.size > 0) writes.push(tx.query(statement, c.cols))
  }
  write(Q.INSERT_MESSAGES, messages)
  write(Q.INSERT_EVENTS, events)
  write(Q.UPDATE_EDITS, edits)
  write(Q.ERASE_MESSAGES, deletes)
  write(Q.DELETE_REACTIONS, reactionsRemoved)
  write(Q.INSERT_REACTIONS, reactionsAdded)
  write(Q.UPSERT_MEMBERS, membersUpserted)
  write(Q.DELETE_MEMBERS, membersRemoved)
  write(Q.UPDATE_HEADS, heads)
  // The push intents commit with the messages (one more statement in the same round trip).
  write(Q.INSERT_PUSH_INTENTS, intents)
  return writes
}
