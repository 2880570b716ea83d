/** The contract on PostgreSQL: a fresh database per test on the run's server (globalSetup). */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import type { RoomId, UserId } from "../../core/model.ts"
import type { WriteOp } from "../../core/ops.ts"
import { ChatStoreTag } from "../../storage/ChatStore.ts"
import { layer, makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"
import { storeContract } from "./store.contract.ts"

storeContract(
  "postgres",
  Effect.gen(function* () {
    const url = yield* scopedDatabase
    const db = yield* makePostgresDatabase({ url, poolSize: 8 })
    yield* migrate(db, loadMigrations())
    return { store: makeSqlStore(db, "postgres"), sql: db.query }
  })
)

/** A store on a fresh, migrated database, and the database beside it for direct checks. */
const migratedStore = Effect.gen(function* () {
  const url = yield* scopedDatabase
  const db = yield* makePostgresDatabase({ url, poolSize: 4 })
  yield* migrate(db, loadMigrations())
  return { db, store: makeSqlStore(db, "postgres") }
})

const ann = "ann" as UserId

/** Ann's n-th send, body `b<n>`, optionally a reply. */
const send = (n: number, replyTo?: number): WriteOp => ({
  _tag: "Send",
  actor: ann,
  messageId: crypto.randomUUID(),
  clientMsgId: `m${n}`,
  body: `b${n}`,
  ...(replyTo !== undefined ? { replyTo } : {})
})

describe("postgres store", () => {
  it.scoped("migrations - two runners starting at once apply each file exactly once", () =>
    Effect.gen(function* () {
      const url = yield* scopedDatabase
      const [one, two] = yield* Effect.all([makePostgresDatabase({ url }), makePostgresDatabase({ url })])
      const migrations = loadMigrations()
      const applied = yield* Effect.all([migrate(one, migrations), migrate(two, migrations)], { concurrency: 2 })
      expect(applied.flat()).toEqual(migrations.map((m) => m.name))
      expect(yield* migrate(one, migrations)).toEqual([])
      const rows = yield* Effect.promise(() => one.query("SELECT name FROM schema_migrations"))
      expect(rows.map((r) => r.name)).toEqual(migrations.map((m) => m.name))
      // Re-running a file by hand is harmless too: every statement is IF NOT EXISTS.
      yield* Effect.promise(() => one.script(migrations[0].sql))
    }))

  it.scoped("layer - applies the migrations it is given and answers ping", () =>
    Effect.gen(function* () {
      const url = yield* scopedDatabase
      const context = yield* Layer.build(layer({ url, poolSize: 2, migrations: loadMigrations() }))
      const store = Context.get(context, ChatStoreTag)
      expect(store.name).toBe("postgres")
      yield* store.ping
    }))

  it.scoped("markRead - concurrent reads of one member count each message once (the member's row is locked)", () =>
    Effect.gen(function* () {
      const url = yield* scopedDatabase
      const db = yield* makePostgresDatabase({ url, poolSize: 8 })
      yield* migrate(db, loadMigrations())
      const store = makeSqlStore(db, "postgres")
      const [ann, bob] = ["ann", "bob"] as Array<UserId>
      const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [bob] })
      const head = Option.getOrThrow(yield* store.loadRoom(room.id))
      const ops: Array<WriteOp> = Array.from({ length: 200 }, (_, i) => ({
        _tag: "Send",
        actor: ann,
        messageId: crypto.randomUUID(),
        clientMsgId: `m${i}`,
        body: "x"
      }))
      yield* store.commit(room.id, head.epoch, head.members, ops)
      // Rounds of 24 reads at once, to positions spread over the messages in any order.
      let total = 0
      for (let round = 0; round < 8; round++) {
        const marks = yield* Effect.all(
          Array.from({ length: 24 }, (_, i) => store.markRead(room.id, bob, round * 25 + ((i * 7) % 24) + 1)),
          { concurrency: "unbounded" }
        )
        total += marks.reduce((n, m) => n + m.marked, 0)
      }
      const readSeq = Option.getOrThrow(yield* store.getMembership(room.id, bob)).readSeq
      expect(readSeq).toBe(7 * 25 + 24)
      expect(total).toBe(readSeq)
    }))

  it.scoped(
    "replay - a message is its own event: sends (one statement or the full path) write no events row, and one written by an earlier version is skipped",
    () =>
      Effect.gen(function* () {
        const { db, store } = yield* migratedStore
        const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        // Sends only, head known: the one-statement path; a reply and an edit: the full path.
        yield* store.commit(room.id, head.epoch, head.members, [send(1)])
        yield* store.commit(room.id, head.epoch, head.members, [send(2)])
        yield* store.commit(room.id, head.epoch, head.members, [send(3, 1), { _tag: "Edit", actor: ann, seq: 2, body: "b2'" }])
        const rows = yield* Effect.promise(() => db.query("SELECT seq::int AS seq, kind FROM events WHERE room_id = $1::uuid ORDER BY seq", [room.id]))
        expect(rows.map((r) => [r.seq, r.kind])).toEqual([[4, "message.edited"]])
        // What an earlier version wrote beside each message: replay must not show it twice.
        yield* Effect.promise(() =>
          db.query(
            "INSERT INTO events (room_id, seq, kind, actor, ts, target_seq) SELECT room_id, seq, 'message.created', sender, ts, seq FROM messages WHERE room_id = $1::uuid AND seq <= 2",
            [room.id]
          )
        )
        const replay = yield* store.events(room.id, 0, 4, 100)
        expect(replay.map((e) => [e.seq, e.kind, e.actor])).toEqual([
          [1, "message.created", ann],
          [2, "message.created", ann],
          [3, "message.created", ann],
          [4, "message.edited", ann]
        ])
        // Message events show the message as it is now, whichever table they came from.
        expect(replay.map((e) => (e.data as { body: string }).body)).toEqual(["b1", "b2'", "b3", "b2'"])
        expect((replay[2]!.data as { replyTo?: number }).replyTo).toBe(1)
        // after, upTo and limit over the merged ranges.
        expect((yield* store.events(room.id, 1, 4, 2)).map((e) => e.seq)).toEqual([2, 3])
        expect((yield* store.events(room.id, 2, 3, 100)).map((e) => e.seq)).toEqual([3])
      })
  )

  it.scoped(
    "rooms - no foreign key guards messages any more: a send to a room that is gone or never was is refused and stores nothing, on either path",
    () =>
      Effect.gen(function* () {
        const { db, store } = yield* migratedStore
        const stored = (room: string) =>
          Effect.promise(() => db.query("SELECT seq::int AS seq FROM messages WHERE room_id = $1::uuid ORDER BY seq", [room]))
        const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        yield* store.commit(room.id, head.epoch, head.members, [send(1)])
        // The room goes behind the store's back; the store still knows its head, so the next
        // send takes the one-statement path, whose head update now matches no row.
        yield* Effect.promise(() => db.query("DELETE FROM rooms WHERE id = $1::uuid", [room.id]))
        const gone = yield* store.commit(room.id, head.epoch, head.members, [send(2)])
        expect(gone.map((r) => (r._tag === "Rejected" ? r.error._tag : r._tag))).toEqual(["NotFound"])
        expect((yield* stored(room.id)).map((r) => r.seq)).toEqual([1])
        // A room that never was, through the full path (a reply is never one-statement).
        const never = crypto.randomUUID()
        const refused = yield* store.commit(never as RoomId, 0, new Map([[ann, "owner"]]), [send(3), send(4, 1)])
        expect(refused.map((r) => (r._tag === "Rejected" ? r.error._tag : r._tag))).toEqual(["NotFound", "NotFound"])
        expect(yield* stored(never)).toEqual([])
      })
  )

  it.scoped("connect - an unreachable server fails at start with a StoreError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(makePostgresDatabase({ url: "postgres://postgres@127.0.0.1:1/none", connectTimeoutSeconds: 2 }))
      expect(error).toMatchObject({ _tag: "StoreError", operation: "connect" })
    }))
})
