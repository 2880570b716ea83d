/**
 * The dual-write outbox (sql/0003_dual_outbox.sql): copies to ScyllaDB that failed, kept in
 * PostgreSQL until a later attempt succeeds. An entry names what to copy, never the rows: the
 * copy reads PostgreSQL's current rows when it runs (storage/migrate/sync.ts), so a late or
 * repeated replay writes the right state. Entries of one stream (a room, a user's devices, a
 * room's keys, a shard fence) are replayed in id order, and a stream stops at its first failure
 * until the next round.
 */
import { Effect } from "effect"
import { StoreError } from "../../src/domain/errors.ts"
import type { RoomId, UserId } from "../../src/domain/model.ts"
import type { SqlDatabase } from "../sql/SqlClient.ts"

export type OutboxOp =
  /** Events after `after`, the named members (or all), and the head of a room; only the members with `membersOnly`. */
  | {
      readonly _tag: "Room"
      readonly room: RoomId
      readonly after: number
      readonly members: "all" | ReadonlyArray<UserId>
      readonly membersOnly?: boolean
    }
  | { readonly _tag: "Devices"; readonly user: UserId }
  | { readonly _tag: "RoomKeys"; readonly room: RoomId }
  | { readonly _tag: "Fence"; readonly shard: number; readonly epoch: number }

export const streamOf = (op: OutboxOp): string => {
  switch (op._tag) {
    case "Room":
      return `room:${op.room}`
    case "Devices":
      return `devices:${op.user}`
    case "RoomKeys":
      return `keys:${op.room}`
    case "Fence":
      return `shard:${op.shard}`
  }
}

const HAS_PENDING = "SELECT 1 AS pending FROM dual_outbox WHERE stream = $1::text LIMIT 1"
const ENQUEUE = "INSERT INTO dual_outbox (stream, op, last_error) VALUES ($1::text, $2::text::jsonb, $3::text)"
const OLDEST = "SELECT id, stream, op::text AS op FROM dual_outbox ORDER BY id LIMIT $1::bigint"
const DONE = "DELETE FROM dual_outbox WHERE id = ANY($1::bigint[])"
const FAILED = "UPDATE dual_outbox SET attempts = attempts + 1, last_error = $2::text WHERE id = ANY($1::bigint[])"
const COUNT = "SELECT count(*) AS n FROM dual_outbox"
const STATS =
  "SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS age FROM dual_outbox"

/** Entries read per round; a round replays each stream's share in order. */
const ROUND = 500

/**
 * What an operator may see of a failure: the store operation and the driver's error class
 * and message (cassandra-driver messages name hosts and codes, never bound values).
 */
export const describeFailure = (e: StoreError): string => {
  const cause = e.cause as { name?: unknown; message?: unknown } | undefined
  const detail = cause && typeof cause === "object" ? `${String(cause.name ?? "Error")}: ${String(cause.message ?? "")}` : String(e.cause)
  return `${e.operation}: ${detail}`.slice(0, 500)
}

export interface RoundReport {
  readonly replayed: number
  readonly failed: number
}

export interface Outbox {
  readonly hasPending: (stream: string) => Effect.Effect<boolean, StoreError>
  readonly enqueue: (op: OutboxOp, failure: StoreError | undefined) => Effect.Effect<void, StoreError>
  /** One pass over the oldest entries; `apply` copies one (merged) op. */
  readonly replayRound: (apply: (op: OutboxOp) => Effect.Effect<void, StoreError>) => Effect.Effect<RoundReport, StoreError>
  readonly count: Effect.Effect<number, StoreError>
  /** Entries and the age in seconds of the oldest (0 when empty), for the metrics. */
  readonly stats: Effect.Effect<{ readonly entries: number; readonly oldestAgeSeconds: number }, StoreError>
}

/** Consecutive Room entries of a stream become one copy: the lowest `after`, every named member. */
const merge = (ops: ReadonlyArray<OutboxOp>): OutboxOp => {
  const first = ops[0]
  if (first._tag !== "Room" || ops.length === 1) return first
  const rooms = ops as ReadonlyArray<Extract<OutboxOp, { _tag: "Room" }>>
  const all = rooms.some((o) => o.members === "all")
  return {
    _tag: "Room",
    room: first.room,
    after: Math.min(...rooms.map((o) => o.after)),
    members: all ? "all" : [...new Set(rooms.flatMap((o) => o.members as ReadonlyArray<UserId>))],
    membersOnly: rooms.every((o) => o.membersOnly === true)
  }
}

export const makeOutbox = (db: SqlDatabase): Outbox => {
  const run = <A>(operation: string, f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

  return {
    hasPending: (stream) => run("outbox", async () => (await db.query(HAS_PENDING, [stream])).length > 0),
    enqueue: (op, failure) =>
      Effect.asVoid(
        run("outbox", () =>
          db.query(ENQUEUE, [streamOf(op), JSON.stringify(op), failure === undefined ? null : describeFailure(failure)])
        )
      ),
    count: run("outbox", async () => Number((await db.query(COUNT))[0]?.n ?? 0)),
    stats: run("outbox", async () => {
      const row = (await db.query(STATS))[0]
      return { entries: Number(row?.n ?? 0), oldestAgeSeconds: Math.max(0, Number(row?.age ?? 0)) }
    }),
    replayRound: (apply) =>
      Effect.gen(function* () {
        const rows = yield* run("outbox", () => db.query(OLDEST, [ROUND]))
        const streams = new Map<string, Array<{ id: number; op: OutboxOp }>>()
        for (const row of rows) {
          const entry = { id: Number(row.id), op: JSON.parse(String(row.op)) as OutboxOp }
          const list = streams.get(String(row.stream))
          if (list === undefined) streams.set(String(row.stream), [entry])
          else list.push(entry)
        }
        let replayed = 0
        let failed = 0
        // Streams are independent: replay them side by side; within one, in order.
        yield* Effect.forEach(
          [...streams.values()],
          (entries) =>
            Effect.gen(function* () {
              let done = 0
              // Fence entries are not merged: each raise is replayed as recorded.
              const groups = entries[0].op._tag === "Room" ? [entries] : entries.map((e) => [e])
              for (const group of groups) {
                const groupIds = group.map((e) => e.id)
                const outcome = yield* Effect.either(apply(merge(group.map((e) => e.op))))
                if (outcome._tag === "Left") {
                  failed += entries.length - done
                  yield* run("outbox", () => db.query(FAILED, [groupIds, describeFailure(outcome.left)]))
                  return
                }
                yield* run("outbox", () => db.query(DONE, [groupIds]))
                replayed += groupIds.length
                done += groupIds.length
              }
            }),
          { concurrency: 8, discard: true }
        )
        return { replayed, failed }
      })
  }
}
