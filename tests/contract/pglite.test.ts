/**
 * The contract on PGlite. Starting a PGlite costs seconds (initdb in WASM), so the contract
 * runs on one in-memory instance per file; its tests isolate themselves by room and user.
 */
import { PGlite } from "@electric-sql/pglite"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import type { RoomId, UserId } from "../../core/model.ts"
import { makePgliteStore, pgliteDatabase } from "../../storage/pglite/PgliteStore.ts"
import { queryPrepared } from "../../storage/pglite/prepared.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import type { SqlDatabase } from "../../storage/sql/SqlClient.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { storeContract } from "./store.contract.ts"

let pglite: PGlite
let db: SqlDatabase

beforeAll(async () => {
  pglite = await PGlite.create()
  db = pgliteDatabase(pglite)
  await Effect.runPromise(migrate(db, loadMigrations()))
})

afterAll(async () => {
  await pglite?.close()
})

storeContract(
  "pglite",
  Effect.sync(() => ({ store: makeSqlStore(db, "pglite"), sql: db.query }))
)

describe("pglite store", () => {
  it.scoped("reads issued while commits are open wait for them and see whole batches", () =>
    Effect.gen(function* () {
      const store = makeSqlStore(db, "pglite")
      const ann = `ann-${crypto.randomUUID()}` as UserId
      const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
      const members = new Map([[ann, "owner" as const]])
      const batch = (i: number) =>
        store.commit(room.id, 0, members, [0, 1, 2, 3].map((j) => ({
          _tag: "Send" as const,
          actor: ann,
          messageId: crypto.randomUUID(),
          clientMsgId: `b${i}.${j}`,
          body: `${i}.${j}`
        })))
      const read = store.history(room.id, undefined, 200).pipe(Effect.map((p) => p.messages.length))
      const seen = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => Effect.zip(batch(i), read, { concurrent: true }).pipe(Effect.map(([, n]) => n)),
        { concurrency: "unbounded" }
      )
      for (const n of seen) expect(n % 4).toBe(0)
      expect((yield* store.history(room.id, undefined, 200)).messages.length).toBe(80)
    }))

  it.live("keeps its data on disk across a restart, applying migrations once", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "chat-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const ann = "ann" as UserId
      const id = crypto.randomUUID() as RoomId
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* makePgliteStore({ dataDir: dir, migrations: loadMigrations() })
          yield* store.createGroupRoom({ id, name: "persisted", owner: ann, members: [] })
        })
      )
      const head = yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* makePgliteStore({ dataDir: dir, migrations: loadMigrations() })
          return yield* store.loadRoom(id)
        })
      )
      expect(Option.getOrThrow(head).room.name).toBe("persisted")
    }).pipe(Effect.scoped), 60_000)
})

describe("pglite prepared statements (storage/pglite/prepared.ts)", () => {
  const compare = async (text: string, params: ReadonlyArray<unknown>) => {
    const viaQuery = (await pglite.query<Record<string, unknown>>(text, [...params])).rows
    const viaPrepared = await queryPrepared(pglite, text, params)
    expect(viaPrepared).toEqual(viaQuery)
    return viaPrepared!
  }

  it("answers the rows `query` answers, with the same types, NULLs and arrays", async () => {
    const rows = await compare(
      "SELECT $1::bigint AS n, $2::text AS t, $3::timestamptz AS ts, $4::jsonb AS j, $5::uuid[] AS ids, $6::text AS missing, $7::bool AS b",
      [42, "it's \"quoted\" \\ and {braced}", "2026-12-06T10:00:00.123Z", { a: [1, "x"] }, [crypto.randomUUID(), crypto.randomUUID()], null, true]
    )
    expect(rows).toHaveLength(1)
    expect(rows[0]!.t).toBe("it's \"quoted\" \\ and {braced}")
    expect(rows[0]!.missing).toBeNull()
    expect(rows[0]!.ts).toBeInstanceOf(Date)
    // The same text again runs the statement already prepared, with other values.
    const again = await compare(
      "SELECT $1::bigint AS n, $2::text AS t, $3::timestamptz AS ts, $4::jsonb AS j, $5::uuid[] AS ids, $6::text AS missing, $7::bool AS b",
      [7, "", "2020-01-01T00:00:00Z", [], [], "here", false]
    )
    expect(again[0]!.n).toBe(7)
    expect(await compare("SELECT g FROM generate_series(1, $1::int) g WHERE false", [3])).toEqual([])
  })

  it("fails as `query` does (SQLSTATE in `code`) and leaves the session usable", async () => {
    const text = "SELECT 1 / $1::int AS q"
    await expect(queryPrepared(pglite, text, [0])).rejects.toMatchObject({ code: "22012" })
    expect(await queryPrepared(pglite, text, [1])).toEqual([{ q: 1 }])
    // A unique violation inside a data-modifying statement rolls it back whole.
    const table = `prep_${crypto.randomUUID().replaceAll("-", "")}`
    await pglite.exec(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const insert = `INSERT INTO ${table} SELECT unnest($1::int[]) RETURNING id`
    expect(await queryPrepared(pglite, insert, [[1, 2]])).toEqual([{ id: 1 }, { id: 2 }])
    await expect(queryPrepared(pglite, insert, [[3, 1]])).rejects.toMatchObject({ code: "23505" })
    expect((await pglite.query(`SELECT id FROM ${table} ORDER BY id`)).rows).toEqual([{ id: 1 }, { id: 2 }])
    expect(await pglite.query("SELECT 2 AS two")).toMatchObject({ rows: [{ two: 2 }] })
  })

  it("a statement that cannot be prepared yet (its table is missing) is prepared once it can be", async () => {
    const table = `later_${crypto.randomUUID().replaceAll("-", "")}`
    const text = `SELECT count(*)::int AS n FROM ${table} WHERE id > $1::int`
    await expect(queryPrepared(pglite, text, [0])).rejects.toMatchObject({ code: "42P01" })
    await pglite.exec(`CREATE TABLE ${table} (id int); INSERT INTO ${table} VALUES (1), (2)`)
    expect(await queryPrepared(pglite, text, [0])).toEqual([{ n: 2 }])
  })
})
