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
