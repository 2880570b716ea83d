/**
 * The store named by CHAT_STORE, opened for the life of the scope, migrations applied.
 * The one place that knows which implementation backs which setting. The node's store is
 * that one, timed (chat_store_query_duration_seconds) and encrypted (message bodies).
 */
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { ChatConfigTag, type ChatConfig } from "../config/ChatConfig.ts"
import type { InvalidMasterKey } from "../crypto/errors.ts"
import * as Encrypted from "../crypto/EncryptedStore.ts"
import * as KeyRing from "../crypto/KeyRing.ts"
import { withMetrics } from "../metrics/instrumentedStore.ts"
import type { Secrets } from "../config/secrets.ts"
import { storeStep, type StartupError } from "../startup/StartupError.ts"
import { StoreError } from "../../core/errors.ts"
import { ChatStoreTag, type ChatStore } from "../../storage/ChatStore.ts"
import { makePgliteStore } from "../../storage/pglite/PgliteStore.ts"
import { makeDualStore } from "../../storage/dual/DualStore.ts"
import { makePostgresDatabase, makePostgresStore } from "../../storage/postgres/PostgresStore.ts"
import { makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { applySchema } from "../../storage/scylla/schema.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { makeScyllaStore, makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"

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
                primary: makeSqlStore(db, "postgres"),
                secondary: makeScyllaStoreOn(cql),
                cql,
                read: config.dualRead
              })
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

/** The configured store, wrapped (tests), timed. */
const timed: Layer.Layer<ChatStoreTag, never, ConfiguredStore> = Layer.effect(
  ChatStoreTag,
  Effect.gen(function* () {
    const wrap = yield* StoreWrapper
    return withMetrics(wrap(yield* ConfiguredStore))
  })
)

/** The node's store: configured, timed, encrypted with the ring from the resolved secrets. */
export const layer: Layer.Layer<ChatStoreTag | ConfiguredStore, StartupError | InvalidMasterKey, ChatConfigTag | Secrets> =
  Encrypted.layer.pipe(Layer.provide(Layer.merge(timed, KeyRing.layerFromSecrets)), Layer.provideMerge(opened))
