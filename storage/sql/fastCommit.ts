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
  // Sends are ruled the same in both kinds of room; fastEligible admitted sends only.
  const plans = batches.map((b, i) =>
    planSends(b.room, lastSeqs[i]!, b.members, b.ops as ReadonlyArray<Extract<WriteOp, { _tag: "Send" }>>, b.now)
  )
  const h = { room: [] as Array<RoomId>, expected: [] as Array<number>, last: [] as Array<number>, epoch: [] as Array<number>, shard: [] as Array<number | null>, ts: [] as Array<string>, from: [] as Array<number | null> }
  // A message's timestamp is its room's commit time (head.ts in the statement): not sent per message.
  const m = { room: [] as Array<RoomId>, seq: [] as Array<number>, id: [] as Array<string>, sender: [] as Array<string>, body: [] as Array<string | null>, cmid: [] as Array<string | null> }
  const shards = new Set<number>()
  // Row locks in room order, as the full path takes them.
  const order = batches.map((_, i) => i).sort((a, b) => (batches[a]!.room < batches[b]!.room ? -1 : 1))
  const outcomes: Array<CommitOutcome | undefined> = new Array(batches.length)
  const written: Array<number> = []
  for (const i of order) {
    const b = batches[i]!
    const p = plans[i]!
    if (p.messages.length === 0) {
      // Nothing to write (every op rejected or a duplicate within the batch): the answers stand.
      outcomes[i] = { _tag: "Done", results: p.results, lastSeq: lastSeqs[i]! }
      continue
    }
    written.push(i)
    const intent = intentOf(b.room, p.messages, b.now)
    h.room.push(b.room)
    h.expected.push(lastSeqs[i]!)
    h.last.push(p.lastSeq)
    h.epoch.push(b.epoch)
    h.shard.push(b.shard ?? null)
    h.ts.push(b.now)
    h.from.push(intent?.fromSeq ?? null)
    if (b.shard !== undefined) shards.add(b.shard)
    for (const msg of p.messages) {
      m.room.push(b.room)
      m.seq.push(msg.seq)
      m.id.push(msg.id)
      m.sender.push(msg.sender)
      m.body.push(msg.body)
      m.cmid.push(msg.clientMsgId ?? null)
    }
  }
  const rest: Array<number> = []
  if (written.length === 0) return { outcomes, rest }
  const rows = await db.query(Q.COMMIT_SENDS, [
    [...shards],
    h.room,
    h.expected,
    h.last,
    h.epoch,
    h.shard,
    h.ts,
    m.room,
    m.seq,
    m.id,
    m.sender,
    m.body,
    m.cmid,
    h.from
  ])
  const moved = new Set(rows.map((r) => String(r.id)))
  for (const i of written) {
    const b = batches[i]!
    if (moved.has(b.room.toLowerCase())) outcomes[i] = { _tag: "Done", results: plans[i]!.results, lastSeq: plans[i]!.lastSeq }
    else rest.push(i)
  }
  return { outcomes, rest }
}
