/**
 * The common group, sends only, in one statement and one round trip: no BEGIN, no lock and
 * load round trip, no COMMIT (a single statement is its own transaction). The room's actor is
 * its only writer, so the store already knows each room's last seq (from the room's load or
 * its previous commit: `heads`); plan() numbers the sends from it, and the statement
 *
 * - advances each room's head only where it still holds that last seq and an epoch no newer
 *   than the batch's, and where the shard's fence (read FOR SHARE, as the full path does) is
 *   not newer either: the fencing and gapless-seq checks of the full path, as a conditional
 *   update that waits for any other writer of the row and re-checks;
 * - inserts the messages (each its own `message.created` event: no events row) and the push
 *   intent only for rooms whose head moved;
 * - fails with a unique violation (SQLSTATE 23505) when a message's key is taken (a resend
 *   the actor's recent-keys cache did not know, or a key the database stores alike): the
 *   statement then wrote nothing, and the group goes the full way, whose planner answers
 *   the first ack. The other unique key of messages, (room, seq), cannot collide: a message
 *   is inserted only where its room's head moved from the seq it was numbered after.
 *
 * A room whose head did not move (stale hint, newer epoch elsewhere, missing room) wrote
 * nothing either, and goes the full way (./commit.ts), which answers it exactly. Any other
 * failure is the group's, as on the full path.
 */
import type { RoomId } from "../../core/model.ts"
import type { WriteOp } from "../../core/ops.ts"
import { planSends } from "../../core/plan.ts"
import { intentOf } from "../PushQueue.ts"
import type { CommitOutcome, RoomBatch } from "./commit.ts"
import { arrayLiteral, withInt, withPlain, withQuoted } from "./arrayLiteral.ts"
import * as Q from "./queries.ts"
import type { SqlClient } from "./SqlClient.ts"

/** SQLSTATE of a send that collided with a stored key (unique_violation; the only unique keys written here are messages'). */
const COLLIDED = "23505"

export const isCollision = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === COLLIDED

/** True when the batch can take the one-statement path: sends without replyTo only. */
export const fastEligible = (b: RoomBatch, lastSeq: number | undefined): boolean => {
  if (lastSeq === undefined || b.ops.length === 0) return false
  for (const op of b.ops) if (op._tag !== "Send" || op.replyTo !== undefined) return false
  return true
}

/**
 * Commits the batches whose head matched; answers their outcomes by index, and the indexes
 * of the batches that must go the full way. Planned by core/plan.ts `planSends`, the same
 * rules as the full path's `plan` for sends.
 */
export const commitFast = async (
  db: SqlClient,
  batches: ReadonlyArray<RoomBatch>,
  lastSeqs: ReadonlyArray<number>
): Promise<{ readonly outcomes: Array<CommitOutcome | undefined>; readonly rest: Array<number> }> => {
  const n = batches.length
  // Sends are ruled the same in both kinds of room; fastEligible admitted sends only.
  const plans = new Array<ReturnType<typeof planSends>>(n)
  for (let i = 0; i < n; i++) {
    const b = batches[i]!
    plans[i] = planSends(b.room, lastSeqs[i]!, b.members, b.ops as ReadonlyArray<Extract<WriteOp, { _tag: "Send" }>>, b.now)
  }
  // Per room: id, expected last seq, new last seq, epoch, shard, time (also every message's),
  // first new seq; per message: room, seq, id, sender, body, clientMsgId. Array literals
  // (./arrayLiteral.ts), the user-given strings quoted and escaped.
  let hRoom = "", hExpected = "", hLast = "", hEpoch = "", hShard = "", hTs = "", hFrom = ""
  let mRoom = "", mSeq = "", mId = "", sender = "", body = "", cmid = ""
  const shards: Array<number> = []
  // Row locks in room order, as the full path takes them.
  const order = n === 1 ? ONLY_FIRST : byRoom(batches)
  const outcomes: Array<CommitOutcome | undefined> = new Array(n)
  const written: Array<number> = []
  for (const i of order) {
    const b = batches[i]!
    const p = plans[i]!
    const messages = p.messages
    if (messages.length === 0) {
      // Nothing to write (every op rejected or a duplicate within the batch): the answers stand.
      outcomes[i] = { _tag: "Done", results: p.results, lastSeq: lastSeqs[i]! }
      continue
    }
    written.push(i)
    const shard = b.shard ?? null
    hRoom = withPlain(hRoom, b.room)
    hExpected = withInt(hExpected, lastSeqs[i]!)
    hLast = withInt(hLast, p.lastSeq)
    hEpoch = withInt(hEpoch, b.epoch)
    hShard = withInt(hShard, shard)
    hTs = withPlain(hTs, b.now)
    hFrom = withInt(hFrom, intentOf(b.room, messages, b.now)?.fromSeq ?? null)
    if (shard !== null && !shards.includes(shard)) shards.push(shard)
    for (const msg of messages) {
      mRoom = withPlain(mRoom, b.room)
      mSeq = withInt(mSeq, msg.seq)
      mId = withPlain(mId, msg.id)
      sender = withQuoted(sender, msg.sender)
      body = withQuoted(body, msg.body)
      cmid = withQuoted(cmid, msg.clientMsgId ?? null)
    }
  }
  const rest: Array<number> = []
  if (written.length === 0) return { outcomes, rest }
  const rows = await db.query(Q.COMMIT_SENDS, [
    arrayLiteral(shards.join(",")),
    arrayLiteral(hRoom),
    arrayLiteral(hExpected),
    arrayLiteral(hLast),
    arrayLiteral(hEpoch),
    arrayLiteral(hShard),
    arrayLiteral(hTs),
    arrayLiteral(mRoom),
    arrayLiteral(mSeq),
    arrayLiteral(mId),
    arrayLiteral(sender),
    arrayLiteral(body),
    arrayLiteral(cmid),
    arrayLiteral(hFrom)
  ])
  // A room appears once in a group and its head row at most once in the answer: as many rows
  // as rooms written means every head moved (the common case: no set of ids needed).
  const moved = rows.length === written.length ? undefined : new Set(rows.map((r) => String(r.id)))
  for (const i of written) {
    const b = batches[i]!
    if (moved === undefined || moved.has(b.room.toLowerCase())) {
      outcomes[i] = { _tag: "Done", results: plans[i]!.results, lastSeq: plans[i]!.lastSeq }
    } else rest.push(i)
  }
  return { outcomes, rest }
}

const ONLY_FIRST: ReadonlyArray<number> = [0]

/** The batches' indexes in room order. */
const byRoom = (batches: ReadonlyArray<RoomBatch>): Array<number> =>
  batches.map((_, i) => i).sort((a, b) => (batches[a]!.room < batches[b]!.room ? -1 : 1))
