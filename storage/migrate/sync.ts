/**
 * Copies one room's state from PostgreSQL to ScyllaDB: the events after a seq (in chunks, with
 * the messages and reactions they touch as they are now), the members asked for, then the
 * head. Dual-write copies each committed batch this way (after = the seq before the batch);
 * the backfill copies whole rooms (after = its checkpoint). One path, so what dual-write
 * writes and what the backfill writes cannot differ.
 */
import { Effect } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import type { CqlClient } from "../scylla/CqlClient.ts"
import { beginImport, importHead, importRows } from "../scylla/mirror.ts"
import * as S from "../scylla/statements.ts"
import type { WriteClock } from "../scylla/writeClock.ts"
import type { SqlClient } from "../sql/SqlClient.ts"
import { readMembers, readRange, readRoom } from "./source.ts"

/** Events per chunk: a chunk's rows are read in three queries and written concurrently. */
export const SYNC_CHUNK = 500

export interface SyncTarget {
  readonly cql: CqlClient
  readonly clock: WriteClock
}

export interface SyncOptions {
  /** Members to copy: every member when "all", else these users (removed ones are deleted). */
  readonly members: "all" | ReadonlyArray<UserId>
  /** After each chunk is written: the seq copied up to and the messages in the chunk. */
  readonly onChunk?: (upTo: number, messages: number) => Effect.Effect<void, StoreError>
}

export interface SyncResult {
  /** The room's last seq as copied (0 when the room does not exist in PostgreSQL). */
  readonly lastSeq: number
  readonly exists: boolean
}

const fromPg = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

export const syncRoom = (
  db: SqlClient,
  target: SyncTarget,
  room: RoomId,
  after: number,
  options: SyncOptions
): Effect.Effect<SyncResult, StoreError> =>
  Effect.gen(function* () {
    // The stamp comes before any read of PostgreSQL: see storage/scylla/mirror.ts.
    const stamp = yield* beginImport(target.cql, target.clock, room)
    const image = yield* fromPg("sync.room", () => readRoom(db, room))
    if (image === undefined) return { lastSeq: 0, exists: false }
    let from = Math.max(0, after)
    while (from < image.lastSeq) {
      const upTo = Math.min(image.lastSeq, from + SYNC_CHUNK)
      const rows = yield* fromPg("sync.range", () => readRange(db, room, from, upTo))
      yield* importRows(target.cql, stamp, { ...rows, members: [], removedMembers: [] })
      if (options.onChunk) yield* options.onChunk(upTo, rows.messages.filter((m) => m.seq > from).length)
      from = upTo
    }
    if (options.members === "all" || options.members.length > 0) {
      const users = options.members === "all" ? undefined : options.members
      const { members, removed } = yield* fromPg("sync.members", () => readMembers(db, room, users))
      // A whole copy also drops members that ScyllaDB has and PostgreSQL no longer has.
      const extra =
        users === undefined
          ? (yield* target.cql.allRows("sync.members", S.LOAD_MEMBERS, [room]))
              .map((row) => String(row.user_id) as UserId)
              .filter((u) => !members.some((m) => m.user === u))
          : []
      yield* importRows(target.cql, stamp, {
        events: [],
        messages: [],
        reactions: [],
        members,
        removedMembers: [...removed, ...extra]
      })
    }
    yield* importHead(target.cql, stamp, image)
    return { lastSeq: image.lastSeq, exists: true }
  })

/** Only the named members' rows (role, pin, read position): markRead and setPinned. */
export const syncMembers = (
  db: SqlClient,
  target: SyncTarget,
  room: RoomId,
  users: ReadonlyArray<UserId>
): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    if (users.length === 0) return
    const stamp = yield* beginImport(target.cql, target.clock, room)
    const { members, removed } = yield* fromPg("sync.members", () => readMembers(db, room, users))
    yield* importRows(target.cql, stamp, { events: [], messages: [], reactions: [], members, removedMembers: removed })
  })
