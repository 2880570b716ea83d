/**
 * The store named by CHAT_STORE, opened for the life of the scope, migrations applied.
 * The one place that knows which implementation backs which setting. The node's store is
 * that one, timed (chat_query_duration_seconds), behind a circuit breaker and encrypted
 * (message bodies).
 */
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { ChatConfigTag, type ChatConfig } from "../config/ChatConfig.ts"
import type { InvalidMasterKey } from "../crypto/errors.ts"
import * as Encrypted from "../crypto/EncryptedStore.ts"
import * as KeyRing from "../crypto/KeyRing.ts"
import { withMetrics } from "../metrics/instrumentedStore.ts"
import type { Secrets } from "../config/secrets.ts"
import * as Breaker from "../resilience/Breaker.ts"
import { withBreaker } from "../resilience/guardStore.ts"
import { storeStep, type StartupError } from "../startup/StartupError.ts"
import { StoreError } from "../../core/errors.ts"
import { ChatStoreTag, type ChatStore } from "../../storage/ChatStore.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"

const joinPath = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`)

const load = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation: "open", cause: `loading ${what}: ${String(cause)}` }) })

const noPostgresUrl = () => Effect.fail(new StoreError({ operation: "open", cause: "CHAT_POSTGRES_URL is not set" }))

/** Dual mode: the breaker of the ScyllaDB copies, by store (for /readyz). */
const copyBreakers = new WeakMap<ChatStore, Breaker.Breaker>()
export const copyBreakerOf = (store: ChatStore): Breaker.Breaker | undefined => copyBreakers.get(store)

/**
 * Each implementation is imported when it is chosen, not before: the embedded default then
 * never loads cassandra-driver or postgres (~25 MB of RSS and a few hundred ms of start-up
 * CPU, see docs/embedded.md).
 */
export const makeConfiguredStore = (config: ChatConfig): Effect.Effect<ChatStore, StoreError, Scope.Scope> =>
  Effect.suspend(() => {
    const migrations = loadMigrations()
    switch (config.store) {
      case "pglite":
        return Effect.gen(function* () {
          const { makePgliteStore } = yield* load("the PGlite store", () => import("../../storage/pglite/PgliteStore.ts"))
          const { readTemplate } = yield* load("the PGlite template", () => import("../../storage/pglite/template.node.ts"))
          return yield* makePgliteStore({ dataDir: joinPath(config.dataDir, "pglite"), migrations, template: readTemplate, commitLingerMs: config.commitLingerMs })
        })
      case "postgres":
        return Option.match(config.postgresUrl, {
          onNone: noPostgresUrl,
          onSome: (url) =>
            Effect.gen(function* () {
              const { makePostgresStore } = yield* load("the PostgreSQL store", () => import("../../storage/postgres/PostgresStore.ts"))
              return yield* makePostgresStore({ url, poolSize: config.postgresPool, migrations, commitLingerMs: config.commitLingerMs })
            })
        })
      case "scylla":
        return Effect.gen(function* () {
          const { makeScyllaStore } = yield* load("the ScyllaDB store", () => import("../../storage/scylla/ScyllaStore.ts"))
          const { loadSchemaCql } = yield* load("the CQL schema", () => import("../../storage/scylla/schema.node.ts"))
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
                    import("../../storage/postgres/PostgresStore.ts"),
                    import("../../storage/sql/migrate.ts"),
                    import("../../storage/scylla/CqlClient.ts"),
                    import("../../storage/scylla/schema.ts"),
                    import("../../storage/scylla/schema.node.ts"),
                    import("../../storage/scylla/ScyllaStore.ts"),
                    import("../../storage/dual/DualStore.ts"),
                    import("../../storage/sql/SqlStore.ts")
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
              const secondary = withMetrics(makeScyllaStoreOn(cql))
              // ScyllaDB's own breaker: while open, copies wait in the outbox untried.
              const circuit = yield* Breaker.make({ dependency: "scylla", title: "ScyllaDB", probe: secondary.ping })
              const dual = yield* makeDualStore({
                circuit,
                db,
                // Each side is timed on its own: chat_query_duration_seconds names the
                // database that ran the call (postgres or scylla), never dual.
                primary: withMetrics(makeSqlStore(db, "postgres", { groupCommit: { lingerMs: config.commitLingerMs } })),
                secondary,
                cql,
                read: config.dualRead
              })
              copyBreakers.set(dual, circuit)
              return dual
            })
        })
    }
  })

/**
 * Wraps the configured store below encryption: tests inject faults here. The default
 * leaves it as it is.
 */
export class StoreWrapper extends Context.Reference<StoreWrapper>()("chat/StoreWrapper", {
  defaultValue: (): ((store: ChatStore) => ChatStore) => (store) => store
}) {}

/** The store as configured, before any wrapper: dual mode's readiness probes its second store. */
export class ConfiguredStore extends Context.Tag("chat/ConfiguredStore")<ConfiguredStore, ChatStore>() {}

const opened: Layer.Layer<ConfiguredStore, StartupError, ChatConfigTag> = Layer.scoped(
  ConfiguredStore,
  Effect.flatMap(ChatConfigTag, (config) => makeConfiguredStore(config).pipe(storeStep(config)))
)

/** The configured store after the tests' wrapper. */
class WrappedStore extends Context.Tag("chat/WrappedStore")<WrappedStore, ChatStore>() {}

const TITLES: Record<string, string> = { postgres: "PostgreSQL", scylla: "ScyllaDB", pglite: "PGlite", memory: "memory store" }

/** The database that commits messages: in dual mode PostgreSQL, the primary. */
export const commitDatabase = (store: { readonly name: string }): string => (store.name === "dual" ? "postgres" : store.name)

const wrapped: Layer.Layer<WrappedStore, never, ConfiguredStore> = Layer.effect(
  WrappedStore,
  Effect.gen(function* () {
    const wrap = yield* StoreWrapper
    return wrap(yield* ConfiguredStore)
  })
)

/**
 * The commit database's circuit breaker: open after repeated failures, commands refused at
 * once while open, closed by the first probe (ping) that answers (src/resilience/Breaker.ts).
 */
const breaker: Layer.Layer<Breaker.StoreBreaker, never, WrappedStore> = Layer.scoped(
  Breaker.StoreBreaker,
  Effect.gen(function* () {
    const store = yield* WrappedStore
    const database = commitDatabase(store)
    return yield* Breaker.make({ dependency: database, title: TITLES[database] ?? database, probe: store.ping })
  })
)

/** The configured store, wrapped (tests), timed (dual mode times each side inside), guarded. */
const guarded: Layer.Layer<ChatStoreTag, never, WrappedStore | Breaker.StoreBreaker | ChatConfigTag> = Layer.effect(
  ChatStoreTag,
  Effect.gen(function* () {
    const store = yield* WrappedStore
    const config = yield* ChatConfigTag
    return withBreaker(store.name === "dual" ? store : withMetrics(store), yield* Breaker.StoreBreaker, config.storeTimeoutMs)
  })
)

/** The node's store: configured, timed, behind its breaker, encrypted with the ring from the resolved secrets. */
export const layer: Layer.Layer<
  ChatStoreTag | ConfiguredStore | Breaker.StoreBreaker,
  StartupError | InvalidMasterKey,
  ChatConfigTag | Secrets
> = Encrypted.layer.pipe(
  Layer.provide(Layer.merge(guarded, KeyRing.layerFromSecrets)),
  Layer.provideMerge(breaker),
  Layer.provide(wrapped),
  Layer.provideMerge(opened)
)
