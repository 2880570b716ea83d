/**
 * One op that the database refuses fails alone. A room's batch is one transaction (inside
 * a group, ./groupCommit.ts), so a statement error from any op rolls back every op of the
 * batch; the group committer already retries each room alone, and this retries each op of
 * a refused room batch alone, in order, so only the op at fault is answered an error and
 * the other members' writes commit. Without it a bad op restarted the room's actor and
 * answered its whole batch `unavailable`, on every retry.
 *
 * An idempotency-key collision is not an error: the unique (room, sender, client_msg_id)
 * index refusing a send means an earlier send owns that key (two client strings the
 * database stores alike, say), and the send resolves to that message's ack, as a resend does.
 */
import { BadRequest, notOwner, Unavailable } from "../../core/errors.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { CommitOutcome, RoomBatch } from "./commit.ts"
import { isStatementError } from "./groupCommit.ts"
import * as Q from "./queries.ts"
import { storedMessage } from "./rows.ts"
import type { SqlClient } from "./SqlClient.ts"

const sqlState = (e: unknown): string => String((e as { code?: unknown }).code)

/**
 * After `batch` failed with `e`: rethrows anything but a statement error; else answers the
 * op at fault alone (a batch of one) or retries each op alone, in order.
 */
export const isolate = async (
  db: SqlClient,
  commit: (batch: RoomBatch) => Promise<CommitOutcome>,
  batch: RoomBatch,
  e: unknown
): Promise<CommitOutcome> => {
  if (!isStatementError(e) || batch.ops.length === 0) throw e
  if (batch.ops.length === 1) return { _tag: "Done", results: [await refused(db, batch, batch.ops[0]!, e)] }
  const results: Array<OpResult> = []
  for (const [i, op] of batch.ops.entries()) {
    let outcome: CommitOutcome
    try {
      outcome = await commit({ ...batch, ops: [op] })
    } catch (e) {
      // A lost connection (not a statement error) is the batch's failure, as before: the
      // ops already committed are idempotent sends or will be seen on the actor's reload.
      if (!isStatementError(e)) throw e
      results.push(await refused(db, batch, op, e))
      continue
    }
    if (outcome._tag === "Fenced") {
      // Ownership moved mid-way: what committed stays committed; the rest goes elsewhere.
      if (i === 0) return outcome
      for (let j = i; j < batch.ops.length; j++) results.push({ _tag: "Rejected", error: notOwner(batch.room) })
      break
    }
    results.push(outcome.results[0]!)
  }
  return { _tag: "Done", results }
}

/** The answer to one op the database refused on its own. */
const refused = async (db: SqlClient, batch: RoomBatch, op: WriteOp, e: unknown): Promise<OpResult> => {
  const code = sqlState(e)
  if (code === "23505" && op._tag === "Send") {
    const [row] = await db.query(Q.LOAD_SENT, [[batch.room], [op.actor], [op.clientMsgId]])
    if (row !== undefined) {
      const first = storedMessage(row)
      return { _tag: "Duplicate", ack: { room: batch.room, seq: first.seq, messageId: first.id, ts: first.ts } }
    }
  }
  // Class 22 (data exception) and 23 (integrity): the op's content; anything else (a
  // serialization failure, a deadlock) is worth a retry.
  return {
    _tag: "Rejected",
    error:
      code.startsWith("22") || code.startsWith("23")
        ? new BadRequest({ message: `the store refused this write (SQLSTATE ${code})` })
        : new Unavailable({ message: `the store could not commit this write (SQLSTATE ${code}); retry` })
  }
}
