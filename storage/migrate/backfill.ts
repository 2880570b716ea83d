/**
 * Backfill: copies everything PostgreSQL holds to ScyllaDB (`npm run chat -- migrate --from
 * postgres --to scylla`): room keys, devices, then each room (head, members with their pins and
 * read positions, events, messages as stored, ciphertext and all, reactions) through the same
 * import path as dual-write (./sync.ts), at PostgreSQL's seqs.
 *
 * Resumable: each room's progress is checkpointed in PostgreSQL (migration_checkpoints) after
 * every chunk of events, so a run stopped anywhere (killed, or `stopAfterRooms`) continues from
 * the last checkpoint. Idempotent: every write carries a timestamp taken before the rows were
 * read (storage/scylla/mirror.ts), so copying a room again, or while dual-write copies it too,
 * leaves the newest state.
 */
import { Clock, Effect, Ref } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import type { CqlClient } from "../scylla/CqlClient.ts"
import { importDevices, importRoomKeys } from "../scylla/mirror.ts"
import { makeWriteClock } from "../scylla/writeClock.ts"
import type { SqlClient } from "../sql/SqlClient.ts"
import { deviceUsers, readAllRoomKeys, readDevices, ROOM_IDS } from "./source.ts"
import { syncRoom } from "./sync.ts"

export interface BackfillProgress {
  readonly roomsDone: number
  readonly roomsTotal: number
  readonly messagesDone: number
  readonly messagesTotal: number
  /** Effect clock, milliseconds: rate and ETA are computed from it. */
  readonly startedAt: number
  readonly now: number
  /** Messages done when this run started (resumed work does not count toward the rate). */
  readonly messagesAtStart: number
}

export interface BackfillOptions {
  readonly db: SqlClient
  readonly cql: CqlClient
  /** Rooms copied at once; default 4. */
  readonly concurrency?: number
  /** Stop (resumably) after this many rooms were copied in this run. */
  readonly stopAfterRooms?: number
  readonly onProgress?: (p: BackfillProgress) => Effect.Effect<void>
}

export interface BackfillReport {
  readonly rooms: number
  readonly messages: number
  readonly roomKeys: number
  readonly deviceUsers: number
  /** False when the run stopped early (stopAfterRooms); run again to finish. */
  readonly complete: boolean
}

const CHECKPOINT = "SELECT synced_seq FROM migration_checkpoints WHERE room_id = $1::uuid"
const SAVE_CHECKPOINT = `
INSERT INTO migration_checkpoints (room_id, synced_seq, done, updated_at) VALUES ($1::uuid, $2::bigint, $3::boolean, now())
ON CONFLICT (room_id) DO UPDATE SET synced_seq = GREATEST(migration_checkpoints.synced_seq, EXCLUDED.synced_seq),
  done = EXCLUDED.done, updated_at = now()`
const TOTALS = "SELECT (SELECT count(*) FROM rooms) AS rooms, (SELECT count(*) FROM messages) AS messages"
/** Messages below the rooms' checkpoints: copied by an earlier run. */
const RESUMED = `
SELECT count(*) AS n FROM messages m JOIN migration_checkpoints c ON c.room_id = m.room_id AND m.seq <= c.synced_seq`

const PAGE = 500

const pg = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

export const backfill = (options: BackfillOptions): Effect.Effect<BackfillReport, StoreError> =>
  Effect.gen(function* () {
    const { db, cql } = options
    const target = { cql, clock: makeWriteClock() }
    const [totals] = yield* pg("migrate.totals", () => db.query(TOTALS))
    const [resumed] = yield* pg("migrate.totals", () => db.query(RESUMED))
    const startedAt = yield* Clock.currentTimeMillis
    const messagesAtStart = Number(resumed?.n ?? 0)
    const state = yield* Ref.make({ roomsDone: 0, messagesDone: messagesAtStart })
    const report = (roomsDelta: number, messagesDelta: number) =>
      Effect.gen(function* () {
        const s = yield* Ref.updateAndGet(state, (s) => ({
          roomsDone: s.roomsDone + roomsDelta,
          messagesDone: s.messagesDone + messagesDelta
        }))
        if (options.onProgress === undefined) return
        yield* options.onProgress({
          ...s,
          roomsTotal: Number(totals.rooms),
          messagesTotal: Number(totals.messages),
          startedAt,
          now: yield* Clock.currentTimeMillis,
          messagesAtStart
        })
      })

    // Keys first: a copied message is only readable once its room's key is there.
    const keys = yield* pg("migrate.roomKeys", () => readAllRoomKeys(db))
    yield* importRoomKeys(cql, keys)

    let users = 0
    let afterUser: string | undefined
    while (true) {
      const page = yield* pg("migrate.devices", () => deviceUsers(db, afterUser, PAGE))
      yield* Effect.forEach(
        page,
        (user: UserId) => Effect.flatMap(pg("migrate.devices", () => readDevices(db, user)), (ds) => importDevices(cql, user, ds)),
        { concurrency: 8, discard: true }
      )
      users += page.length
      if (page.length < PAGE) break
      afterUser = page[page.length - 1]
    }

    const copyRoom = (room: RoomId) =>
      Effect.gen(function* () {
        const [checkpoint] = yield* pg("migrate.checkpoint", () => db.query(CHECKPOINT, [room]))
        const after = checkpoint === undefined ? 0 : Number(checkpoint.synced_seq)
        const result = yield* syncRoom(db, target, room, after, {
          members: "all",
          onChunk: (upTo, messages) =>
            Effect.zipRight(
              pg("migrate.checkpoint", () => db.query(SAVE_CHECKPOINT, [room, upTo, false])),
              report(0, messages)
            )
        })
        yield* pg("migrate.checkpoint", () => db.query(SAVE_CHECKPOINT, [room, result.lastSeq, true]))
        yield* report(1, 0)
      })

    const stopAfter = options.stopAfterRooms ?? Number.POSITIVE_INFINITY
    let started = 0
    let afterRoom: string | null = null
    let complete = true
    while (true) {
      const ids = (yield* pg("migrate.rooms", () => db.query(ROOM_IDS, [afterRoom, PAGE]))).map((r) => String(r.id) as RoomId)
      const take = ids.slice(0, Math.max(0, stopAfter - started))
      yield* Effect.forEach(take, copyRoom, { concurrency: options.concurrency ?? 4, discard: true })
      started += take.length
      if (take.length < ids.length) {
        complete = false
        break
      }
      if (ids.length < PAGE) break
      afterRoom = ids[ids.length - 1]
    }
    const s = yield* Ref.get(state)
    return { rooms: s.roomsDone, messages: s.messagesDone - messagesAtStart, roomKeys: keys.length, deviceUsers: users, complete }
  })
