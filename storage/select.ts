/**
 * The store named by CHAT_STORE, opened for the life of the scope, migrations applied.
 * The one place that knows which implementation backs which setting.
 *
 * Each implementation is imported when it is chosen, not before: the embedded default then
 * never loads cassandra-driver or postgres (~25 MB of RSS and a few hundred ms of start-up
 * CPU on this machine, see docs/embedded.md).
 */
import { Effect, Option, type Scope } from "effect"
import type { ChatConfig } from "../src/config/ChatConfig.ts"
import { StoreError } from "../src/domain/errors.ts"
import type { ChatStore } from "./ChatStore.ts"
import { withMetrics } from "./instrumented.ts"
import { loadMigrations } from "./sql/migrations.node.ts"

const joinPath = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`)

const load = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation: "open", cause: `loading ${what}: ${String(cause)}` }) })

const noPostgresUrl = () => Effect.fail(new StoreError({ operation: "open", cause: "CHAT_POSTGRES_URL is not set" }))

export const makeConfiguredStore = (config: ChatConfig): Effect.Effect<ChatStore, StoreError, Scope.Scope> =>
  Effect.suspend(() => {
    const migrations = loadMigrations()
    switch (config.store) {
      case "pglite":
        return Effect.gen(function* () {
          const { makePgliteStore } = yield* load("the PGlite store", () => import("./pglite/PgliteStore.ts"))
          const { readTemplate } = yield* load("the PGlite template", () => import("./pglite/template.node.ts"))
          return yield* makePgliteStore({ dataDir: joinPath(config.dataDir, "pglite"), migrations, template: readTemplate })
        })
      case "postgres":
        return Option.match(config.postgresUrl, {
          onNone: noPostgresUrl,
          onSome: (url) =>
            Effect.gen(function* () {
              const { makePostgresStore } = yield* load("the PostgreSQL store", () => import("./postgres/PostgresStore.ts"))
              return yield* makePostgresStore({ url, poolSize: config.postgresPool, migrations })
            })
        })
      case "scylla":
        return Effect.gen(function* () {
          const { makeScyllaStore } = yield* load("the ScyllaDB store", () => import("./scylla/ScyllaStore.ts"))
          const { loadSchemaCql } = yield* load("the CQL schema", () => import("./scylla/schema.node.ts"))
          return yield* makeScyllaStore({
            contactPoints: config.scyllaContactPoints,
            keyspace: config.scyllaKeyspace,
            localDc: config.scyllaLocalDc,
            consistency: config.scyllaConsistency,
            schema: loadSchemaCql()
          })
        })
      case "dual":
        return Option.match(config.postgresUrl, {
          onNone: noPostgresUrl,
          onSome: (url) =>
            Effect.gen(function* () {
              const [{ makePostgresDatabase }, { migrate }, { makeCqlClient }, { applySchema }, { loadSchemaCql }, { makeScyllaStoreOn }, { makeDualStore }, { makeSqlStore }] =
                yield* load("the dual store", () =>
                  Promise.all([
                    import("./postgres/PostgresStore.ts"),
                    import("./sql/migrate.ts"),
                    import("./scylla/CqlClient.ts"),
                    import("./scylla/schema.ts"),
                    import("./scylla/schema.node.ts"),
                    import("./scylla/ScyllaStore.ts"),
                    import("./dual/DualStore.ts"),
                    import("./sql/SqlStore.ts")
                  ])
                )
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
