/**
 * The store named by CHAT_STORE, opened for the life of the scope, migrations applied.
 * The one place that knows which implementation backs which setting.
 */
import { Effect, Option, type Scope } from "effect"
import type { ChatConfig } from "../src/config/ChatConfig.ts"
import { StoreError } from "../src/domain/errors.ts"
import type { ChatStore } from "./ChatStore.ts"
import { makePgliteStore } from "./pglite/PgliteStore.ts"
import { makeDualStore } from "./dual/DualStore.ts"
import { withMetrics } from "./instrumented.ts"
import { makePostgresDatabase, makePostgresStore } from "./postgres/PostgresStore.ts"
import { makeCqlClient } from "./scylla/CqlClient.ts"
import { applySchema } from "./scylla/schema.ts"
import { loadSchemaCql } from "./scylla/schema.node.ts"
import { makeScyllaStore, makeScyllaStoreOn } from "./scylla/ScyllaStore.ts"
import { migrate } from "./sql/migrate.ts"
import { loadMigrations } from "./sql/migrations.node.ts"
import { makeSqlStore } from "./sql/SqlStore.ts"

const joinPath = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`)

export const makeConfiguredStore = (config: ChatConfig): Effect.Effect<ChatStore, StoreError, Scope.Scope> =>
  Effect.suspend(() => {
    const migrations = loadMigrations()
    switch (config.store) {
      case "pglite":
        return makePgliteStore({ dataDir: joinPath(config.dataDir, "pglite"), migrations })
      case "postgres":
        return Option.match(config.postgresUrl, {
          onNone: () => Effect.fail(new StoreError({ operation: "open", cause: "CHAT_POSTGRES_URL is not set" })),
          onSome: (url) => makePostgresStore({ url, poolSize: config.postgresPool, migrations })
        })
      case "scylla":
        return makeScyllaStore({
          contactPoints: config.scyllaContactPoints,
          keyspace: config.scyllaKeyspace,
          localDc: config.scyllaLocalDc,
          consistency: config.scyllaConsistency,
          schema: loadSchemaCql()
        })
      case "dual":
        return Option.match(config.postgresUrl, {
          onNone: () => Effect.fail(new StoreError({ operation: "open", cause: "CHAT_POSTGRES_URL is not set" })),
          onSome: (url) =>
            Effect.gen(function* () {
              const db = yield* makePostgresDatabase({ url, poolSize: config.postgresPool })
              yield* migrate(db, migrations)
              const cql = yield* makeCqlClient({
                contactPoints: config.scyllaContactPoints,
                localDc: config.scyllaLocalDc,
                consistency: config.scyllaConsistency
              })
              yield* applySchema(cql, config.scyllaKeyspace, loadSchemaCql())
              return yield* makeDualStore({
                db,
                // Each side is timed on its own: chat_query_duration_seconds names the
                // database that ran the call (postgres or scylla), never dual.
                primary: withMetrics(makeSqlStore(db, "postgres")),
                secondary: withMetrics(makeScyllaStoreOn(cql)),
                cql,
                read: config.dualRead
              })
            })
        })
    }
  })
