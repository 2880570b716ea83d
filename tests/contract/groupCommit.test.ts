/**
 * Cross-room group commit (storage/sql/groupCommit.ts) on a real PostgreSQL and on PGlite:
 * batches of many rooms committed together keep every room gapless, a second batch of one
 * room waits for the next group, and one room's failing statement fails only that room.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { RoomId, UserId } from "../../src/domain/model.ts"
import type { WriteOp } from "../../storage/ops.ts"
import { openPglite, pgliteDatabase } from "../../storage/pglite/PgliteStore.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import type { SqlDatabase } from "../../storage/sql/SqlClient.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"

const owner = "owner" as UserId
const members = new Map([[owner, "owner" as const]])
const send = (clientMsgId: string): WriteOp => ({
  _tag: "Send",
  actor: owner,
  messageId: crypto.randomUUID(),
  clientMsgId,
  body: `body ${clientMsgId}`
})

const setUp = (db: SqlDatabase) =>
  Effect.gen(function* () {
    yield* migrate(db, loadMigrations())
    const groups: Array<number> = []
    const store = makeSqlStore(db, "test", { groupCommit: { concurrency: 1, onGroup: (n) => groups.push(n) } })
    const rooms: Array<RoomId> = []
    for (let i = 0; i < 20; i++) {
      const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: `r${i}`, owner, members: [] })
      rooms.push(room.id)
    }
    return { store, rooms, groups, db }
  })

const seqsOf = (db: SqlDatabase, room: RoomId) =>
  Effect.promise(async () => {
    const rows = await db.query("SELECT seq, client_msg_id FROM messages WHERE room_id = $1::uuid ORDER BY seq", [room])
    const [head] = await db.query("SELECT last_seq FROM rooms WHERE id = $1::uuid", [room])
    return { seqs: rows.map((r) => Number(r.seq)), ids: rows.map((r) => String(r.client_msg_id)), lastSeq: Number(head!.last_seq) }
  })

const suite = (name: string, open: Effect.Effect<SqlDatabase, unknown, import("effect").Scope.Scope>) =>
  describe(`group commit on ${name}`, () => {
    it.scoped("batches of many rooms submitted together commit in one group, each room gapless", () =>
      Effect.gen(function* () {
        const { store, rooms, groups, db } = yield* Effect.flatMap(open, setUp)
        groups.length = 0
        // Three rounds: each round every room commits one batch of two sends at once.
        for (let round = 0; round < 3; round++) {
          const results = yield* Effect.all(
            rooms.map((room) => store.commit(room, 0, members, [send(`${room}-${round}-a`), send(`${room}-${round}-b`)])),
            { concurrency: "unbounded" }
          )
          for (const r of results) expect(r.map((x) => x._tag)).toEqual(["Committed", "Committed"])
        }
        expect(Math.max(...groups)).toBeGreaterThan(1)
        for (const room of rooms) {
          const { seqs, ids, lastSeq } = yield* seqsOf(db, room)
          expect(seqs).toEqual([1, 2, 3, 4, 5, 6])
          expect(lastSeq).toBe(6)
          expect(ids).toEqual([0, 1, 2].flatMap((round) => [`${room}-${round}-a`, `${room}-${round}-b`]))
        }
      }))

    it.scoped("two batches of one room submitted together go in successive groups: no seq is reused", () =>
      Effect.gen(function* () {
        const { store, rooms, db } = yield* Effect.flatMap(open, setUp)
        const room = rooms[0]!
        const [one, two] = yield* Effect.all(
          [store.commit(room, 0, members, [send("x1")]), store.commit(room, 0, members, [send("x2")])],
          { concurrency: "unbounded" }
        )
        const seqs = [one, two].map((r) => (r[0]!._tag === "Committed" ? r[0]!.ack.seq : -1))
        expect(seqs.sort()).toEqual([1, 2])
        expect((yield* seqsOf(db, room)).seqs).toEqual([1, 2])
      }))

    it.scoped("a batch the database refuses fails alone: the other rooms of its group commit", () =>
      Effect.gen(function* () {
        const { store, rooms, groups, db } = yield* Effect.flatMap(open, setUp)
        groups.length = 0
        // A NUL character cannot be stored in a text column: the database refuses the statement.
        const outcomes = yield* Effect.all(
          rooms.map((room, i) => Effect.either(store.commit(room, 0, members, [send(i === 7 ? "bad\u0000id" : `ok-${i}`)]))),
          { concurrency: "unbounded" }
        )
        expect(Math.max(...groups)).toBeGreaterThan(1)
        outcomes.forEach((o, i) => {
          // The op at fault is answered alone (storage/sql/isolate.ts), not as a store failure.
          if (i === 7) expect(Either.isRight(o) && o.right[0]).toMatchObject({ _tag: "Rejected", error: { _tag: "BadRequest" } })
          else expect(Either.isRight(o) && o.right[0]!._tag).toBe("Committed")
        })
        for (const [i, room] of rooms.entries()) {
          expect((yield* seqsOf(db, room)).seqs).toEqual(i === 7 ? [] : [1])
        }
        // The refused room is not stuck: its next batch commits at seq 1.
        const next = yield* store.commit(rooms[7]!, 0, members, [send("fine")])
        expect(next[0]!._tag === "Committed" && next[0]!.ack.seq).toBe(1)
      }))
  })

suite(
  "PostgreSQL",
  Effect.flatMap(scopedDatabase, (url) => makePostgresDatabase({ url, poolSize: 4 }))
)
suite("PGlite", Effect.map(openPglite({}), pgliteDatabase))
