/** The contract on PostgreSQL: a fresh database per test on the run's server (globalSetup). */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
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

  it.scoped("connect - an unreachable server fails at start with a StoreError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(makePostgresDatabase({ url: "postgres://postgres@127.0.0.1:1/none", connectTimeoutSeconds: 2 }))
      expect(error).toMatchObject({ _tag: "StoreError", operation: "connect" })
    }))
})
