/**
 * The contract on the dual-write store: PostgreSQL (a fresh database per test) as the primary,
 * ScyllaDB (one keyspace for the file, on the run's Cassandra) as the copy. Run twice: reads
 * from PostgreSQL (CHAT_DUAL_READ=postgres, the default) and reads from ScyllaDB, which passes
 * only if every write was copied to ScyllaDB at PostgreSQL's seqs.
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import { makeDualStore } from "../../storage/dual/DualStore.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { type CqlClient, makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { applySchema } from "../../storage/scylla/schema.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { cassandraContactPoint, dropKeyspace, freshKeyspace } from "../support/cassandraKeyspace.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"
import { storeContract } from "./store.contract.ts"

const keyspace = freshKeyspace()
let shared: { cql: CqlClient; close: () => Promise<void> }

beforeAll(async () => {
  const scope = Effect.runSync(Scope.make())
  const cql = await Effect.runPromise(
    Scope.extend(
      Effect.tap(
        // The test keyspace has one replica, so every level reads and writes the same copy.
        makeCqlClient({ contactPoints: [cassandraContactPoint()], localDc: "datacenter1", consistency: "ONE" }),
        (c) => applySchema(c, keyspace, loadSchemaCql())
      ),
      scope
    )
  )
  shared = { cql, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}, 120_000)

afterAll(async () => {
  await shared?.close()
  await dropKeyspace(keyspace)
}, 60_000)

const dual = (read: "postgres" | "scylla") =>
  Effect.gen(function* () {
    const url = yield* scopedDatabase
    const db = yield* makePostgresDatabase({ url, poolSize: 8 })
    yield* migrate(db, loadMigrations())
    const store = yield* makeDualStore({
      db,
      primary: makeSqlStore(db, "postgres"),
      secondary: makeScyllaStoreOn(shared.cql),
      cql: shared.cql,
      read
    })
    return { store }
  })

storeContract("dual (reads from postgres)", dual("postgres"))
storeContract("dual (reads from scylla)", dual("scylla"))
