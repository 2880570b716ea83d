/**
 * One batch, inside one transaction: lock the room's head, check the fencing epoch, load what
 * the ops refer to, let plan() decide, persist the plan. Every statement handles the whole
 * batch (unnest of arrays), and empty ones are skipped, so a batch costs at most a dozen
 * round trips whatever its size.
 */
import { NotFound } from "../../src/domain/errors.ts"
import type { Role, RoomId, RoomKind, UserId } from "../../src/domain/model.ts"
import type { OpResult, WriteOp } from "../ops.ts"
import {
  idempotencyKey,
  type Plan,
  plan,
  reactionKey,
  referencedSeqs,
  sendKeys,
  type StoredMessage
} from "../plan.ts"
import * as Q from "./queries.ts"
import { num, storedMessage } from "./rows.ts"
import type { SqlClient } from "./SqlClient.ts"

export type CommitOutcome =
  | { readonly _tag: "Done"; readonly results: ReadonlyArray<OpResult> }
  | { readonly _tag: "Fenced"; readonly currentEpoch: number }

export const commitBatch = async (
  tx: SqlClient,
  room: RoomId,
  epoch: number,
  members: ReadonlyMap<UserId, Role>,
  ops: ReadonlyArray<WriteOp>,
  now: string,
  shard?: number
): Promise<CommitOutcome> => {
  // Statements that do not depend on each other's results are issued together: a driver
  // that pipelines (postgres.js) sends them in one round trip, in order.
  const [fenceRows, headRows] = await Promise.all([
    shard === undefined ? Promise.resolve([]) : tx.query(Q.LOCK_SHARD_FENCE, [shard]),
    tx.query(Q.LOCK_ROOM, [room])
  ])
  const fence = fenceRows[0]
  if (fence !== undefined && epoch < num(fence.epoch)) return { _tag: "Fenced", currentEpoch: num(fence.epoch) }
  const head = headRows[0]
  if (head === undefined) {
    return { _tag: "Done", results: ops.map(() => ({ _tag: "Rejected", error: new NotFound({ message: "room not found" }) })) }
  }
  const storedEpoch = num(head.epoch)
  if (epoch < storedEpoch) return { _tag: "Fenced", currentEpoch: storedEpoch }

  const lastSeq = num(head.last_seq)
  const [targets, sent, reactions] = await Promise.all([
    loadTargets(tx, room, ops),
    loadSent(tx, room, ops),
    loadReactions(tx, room, ops)
  ])
  const p = plan({ room, kind: head.kind as RoomKind, lastSeq, members, ops, targets, sent, reactions, now })
  const writes = persist(tx, room, p, now)
  if (p.events.length > 0 || epoch > storedEpoch || p.name !== undefined) {
    writes.push(tx.query(Q.UPDATE_HEAD, [room, p.lastSeq, epoch, p.name ?? null, p.events.length > 0 ? now : null]))
  }
  await Promise.all(writes)
  return { _tag: "Done", results: p.results }
}

const loadTargets = async (tx: SqlClient, room: RoomId, ops: ReadonlyArray<WriteOp>) => {
  const seqs = referencedSeqs(ops)
  const out = new Map<number, StoredMessage>()
  if (seqs.length === 0) return out
  for (const row of await tx.query(Q.LOAD_TARGETS, [room, seqs])) {
    const m = storedMessage(row)
    out.set(m.seq, m)
  }
  return out
}

const loadSent = async (tx: SqlClient, room: RoomId, ops: ReadonlyArray<WriteOp>) => {
  const keys = sendKeys(ops)
  const out = new Map<string, StoredMessage>()
  if (keys.length === 0) return out
  const rows = await tx.query(Q.LOAD_SENT, [room, keys.map((k) => k.sender), keys.map((k) => k.clientMsgId)])
  for (const row of rows) {
    const m = storedMessage(row)
    out.set(idempotencyKey(m.sender, m.clientMsgId ?? ""), m)
  }
  return out
}

const loadReactions = async (tx: SqlClient, room: RoomId, ops: ReadonlyArray<WriteOp>) => {
  const reacts = ops.flatMap((op) => (op._tag === "React" ? [op] : []))
  const out = new Set<string>()
  if (reacts.length === 0) return out
  const rows = await tx.query(Q.LOAD_REACTIONS, [
    room,
    reacts.map((r) => r.seq),
    reacts.map((r) => r.emoji),
    reacts.map((r) => r.actor)
  ])
  for (const row of rows) out.add(reactionKey(num(row.seq), String(row.emoji), String(row.user_id)))
  return out
}

/**
 * The plan's writes, issued at once and in this order (statements run in the order sent;
 * order matters only for foreign keys: messages before the reactions that point at them).
 */
const persist = (tx: SqlClient, room: RoomId, p: Plan, now: string): Array<Promise<unknown>> => {
  const writes: Array<Promise<unknown>> = []
  if (p.messages.length > 0) {
    const ms = p.messages
    writes.push(tx.query(Q.INSERT_MESSAGES, [
      room,
      now,
      ms.map((m) => m.seq),
      ms.map((m) => m.id),
      ms.map((m) => m.sender),
      ms.map((m) => m.body),
      ms.map((m) => m.replyTo ?? null),
      ms.map((m) => m.clientMsgId ?? null),
      ms.map((m) => m.editedAt ?? null)
    ]))
  }
  if (p.events.length > 0) {
    const es = p.events
    writes.push(tx.query(Q.INSERT_EVENTS, [
      room,
      now,
      es.map((e) => e.seq),
      es.map((e) => e.kind),
      es.map((e) => e.actor),
      es.map((e) => e.targetSeq ?? null),
      // Passed as text and cast in SQL: a driver given a string for a jsonb parameter may
      // JSON-encode it a second time.
      es.map((e) => (e.targetSeq === undefined ? JSON.stringify(e.data ?? null) : null))
    ]))
  }
  if (p.edits.length > 0) {
    writes.push(tx.query(Q.UPDATE_EDITS, [room, now, p.edits.map((e) => e.seq), p.edits.map((e) => e.body)]))
  }
  if (p.deletes.length > 0) writes.push(tx.query(Q.ERASE_MESSAGES, [room, p.deletes]))
  if (p.reactionsRemoved.length > 0) {
    const rs = p.reactionsRemoved
    writes.push(tx.query(Q.DELETE_REACTIONS, [room, rs.map((r) => r.seq), rs.map((r) => r.emoji), rs.map((r) => r.user)]))
  }
  if (p.reactionsAdded.length > 0) {
    const rs = p.reactionsAdded
    writes.push(tx.query(Q.INSERT_REACTIONS, [room, rs.map((r) => r.seq), rs.map((r) => r.emoji), rs.map((r) => r.user)]))
  }
  if (p.membersUpserted.length > 0) {
    const us = p.membersUpserted
    writes.push(tx.query(Q.INSERT_MEMBERS, [room, p.lastSeq, now, us.map((u) => u.user), us.map((u) => u.role)]))
  }
  if (p.membersRemoved.length > 0) writes.push(tx.query(Q.DELETE_MEMBERS, [room, p.membersRemoved]))
  return writes
}
