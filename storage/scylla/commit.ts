/**
 * One batch without transactions: read the head, finish the previous batch if it is not known
 * to be written, load what the ops refer to, let plan() decide, then claim the seqs with ONE
 * lightweight transaction on the head that also stores the batch's intent (every row it will
 * write). Only a successful claim writes rows, so a fenced or losing writer writes nothing; a
 * writer that dies after its claim leaves the intent, which the next reader of the head writes.
 *
 * The claim's condition is `version = <version read>`: the head did not change since this writer
 * read it. A writer that loses re-reads and plans again (another batch went in, so every retry
 * means progress); an older epoch is seen on the re-read and fails with Fenced. A claim whose
 * outcome is unknown (timeout) is resolved with a serial read before anything else happens.
 *
 * With a shard (clustered mode) the shard's fence is read beside the head and an older epoch
 * fails Fenced. The claim cannot be conditioned on another partition, so a commit that read the
 * fence just before a raise can still land just after it; docs/scylla.md ("Shard fences").
 */
import { Clock, Effect } from "effect"
import { Fenced, NotFound, StoreError } from "../../core/errors.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import { plan } from "../../core/plan.ts"
import type { Applier } from "./apply.ts"
import { bucketOf } from "./buckets.ts"
import type { CqlClient } from "./CqlClient.ts"
import { type Head, loadHead } from "./head.ts"
import { encodeIntent, type Intent, makeIntent } from "./intent.ts"
import { loadPlanInputs } from "./planInputs.ts"
import { date, optStr } from "./rows.ts"
import { shardFence } from "./shardFences.ts"
import * as S from "./statements.ts"
import type { WriteClock } from "./writeClock.ts"

/**
 * Claims one writer may lose in a row before giving up. Each loss means another batch of the
 * room committed, so only a crowd of writers on one room (never one actor per room) gets near it.
 */
const MAX_ATTEMPTS = 500

/**
 * After a lost claim: wait a random few milliseconds (growing to at most 64) so that writers
 * racing for one room stop colliding in Paxos, where every collision costs a round for both.
 * Real time on purpose, not Effect's Clock: this paces a database, and under a TestClock an
 * Effect.sleep would wait for the test to move the clock.
 */
const backoff = (lost: number) =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), Math.random() * Math.min(64, 2 ** lost))
    return Effect.sync(() => clearTimeout(timer))
  })

export interface CommitContext {
  readonly cql: CqlClient
  readonly applier: Applier
  readonly writeClock: WriteClock
}

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

type Attempt =
  | { readonly _tag: "Done"; readonly results: ReadonlyArray<OpResult> }
  | { readonly _tag: "Lost" }

/** After an unknown outcome: did our claim become part of the room's history? */
const wasCommitted = (cql: CqlClient, room: RoomId, intent: Intent) =>
  Effect.gen(function* () {
    // A serial read finishes any claim still in flight, so its answer is final.
    const [head] = yield* cql.rows("commit", S.HEAD_COMMIT, [room], { serial: true })
    if (optStr(head?.commit_id) === intent.commitId) return true
    // Later batches replaced the head since; they wrote our events before claiming, if we won.
    const first = intent.events[0]
    if (first === undefined) return false
    const [event] = yield* cql.rows("commit", S.EVENT_COMMIT, [room, bucketOf(first.seq), first.seq])
    return optStr(event?.commit_id) === intent.commitId
  })

const attempt = (
  ctx: CommitContext,
  room: RoomId,
  epoch: number,
  members: ReadonlyMap<UserId, Role>,
  ops: ReadonlyArray<WriteOp>,
  shard: number | undefined
): Effect.Effect<Attempt, StoreError | Fenced> =>
  Effect.gen(function* () {
    const { cql, applier } = ctx
    const [head, fence]: [Head | undefined, number | undefined] = yield* Effect.all(
      [loadHead(cql, "commit", room), shard === undefined ? Effect.succeed(undefined) : shardFence(cql, "commit", shard)],
      { concurrency: 2 }
    )
    if (fence !== undefined && epoch < fence) return yield* new Fenced({ room, epoch, currentEpoch: fence })
    if (head === undefined) {
      return { _tag: "Done", results: ops.map(() => ({ _tag: "Rejected", error: new NotFound({ message: "room not found" }) })) }
    }
    if (epoch < head.epoch) return yield* new Fenced({ room, epoch, currentEpoch: head.epoch })
    yield* applier.ensureApplied(room, head)

    const now = yield* nowIso
    const inputs = yield* loadPlanInputs(cql, room, ops)
    const p = plan({ room, kind: head.kind, lastSeq: head.lastSeq, members, ops, ...inputs, now })
    // Nothing to write (duplicates, rejections, no-op reactions) and no takeover: no claim.
    if (p.events.length === 0 && epoch === head.epoch && p.name === undefined) return { _tag: "Done", results: p.results }

    const intent = makeIntent(p, members, crypto.randomUUID(), ctx.writeClock(head.writeTs + 1), now)
    const version = head.version + 1
    const outcome = yield* cql.lwt("commit", [
      {
        query: S.CLAIM,
        params: [
          p.lastSeq,
          epoch,
          version,
          intent.writeTs,
          intent.commitId,
          // No events, no rows to write (a takeover): the previous intent is cleared, it was applied above.
          p.events.length > 0 ? encodeIntent(intent) : null,
          // Unset (not null) when the room has no name: no tombstone per claim.
          p.name ?? head.name,
          date(p.events.length > 0 ? now : head.lastActivityAt),
          room,
          head.version
        ]
      }
    ])
    const won = outcome._tag === "Applied" || (outcome._tag === "Unknown" && (yield* wasCommitted(cql, room, intent)))
    if (!won) return { _tag: "Lost" }
    yield* applier.apply(room, version, intent)
    return { _tag: "Done", results: p.results }
  })

export const commitBatch = (
  ctx: CommitContext,
  room: RoomId,
  epoch: number,
  members: ReadonlyMap<UserId, Role>,
  ops: ReadonlyArray<WriteOp>,
  shard?: number
): Effect.Effect<ReadonlyArray<OpResult>, StoreError | Fenced> => {
  const loop = (n: number): Effect.Effect<ReadonlyArray<OpResult>, StoreError | Fenced> =>
    Effect.flatMap(attempt(ctx, room, epoch, members, ops, shard), (a) => {
      if (a._tag === "Done") return Effect.succeed(a.results)
      if (n + 1 >= MAX_ATTEMPTS) {
        return Effect.fail(new StoreError({ operation: "commit", cause: `lost ${MAX_ATTEMPTS} claims on room ${room} in a row` }))
      }
      return Effect.zipRight(backoff(n), loop(n + 1))
    })
  return loop(0)
}
