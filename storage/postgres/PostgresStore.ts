/**
 * The ChatStore on PostgreSQL through postgres.js: a thin driver adapter under the shared
 * SqlStore. The pool is opened when the scope opens (checked with one query, so a bad URL
 * fails at start, not at the first message) and ended when it closes.
 */
import { Effect, Layer, Redacted, type Scope } from "effect"
import postgres from "postgres"
import { StoreError } from "../../core/errors.ts"
import { type ChatStore, ChatStoreTag } from "../ChatStore.ts"
import { type Migration, migrate } from "../sql/migrate.ts"
import type { SqlClient, SqlDatabase, SqlTransaction } from "../sql/SqlClient.ts"
import { makeSqlStore } from "../sql/SqlStore.ts"

export interface PostgresOptions {
  /** postgres://user:password@host:port/database (a secret: it carries the password). */
  readonly url: string | Redacted.Redacted<string>
  /** Connections in the pool; default 10. Each committing room holds one for its transaction. */
  readonly poolSize?: number
  /** Applied at start (see storage/sql/migrations.node.ts); none when absent. */
  readonly migrations?: ReadonlyArray<Migration>
  /** Group commit linger, ms (storage/sql/groupCommit.ts); default 0. */
  readonly commitLingerMs?: number
  /** Seconds to wait for a connection; default 10. */
  readonly connectTimeoutSeconds?: number
}

type Driver = postgres.Sql | postgres.TransactionSql

const client = (sql: Driver): SqlClient => ({
  // Named prepared statements: postgres.js otherwise sends every parameterised `unsafe` query
  // as Parse/Describe, waits for the parameter types, then Bind/Execute — two round trips
  // per statement and no pipelining. Prepared once per connection, a statement is one
  // Bind/Execute that pipelines with its neighbours. (The statement texts are constants.)
  // `.execute()`: postgres.js queries are lazy (sent once something awaits them); executed at
  // once, statements reach the connection in the order they are issued, which the
  // pipelined transaction below relies on (its COMMIT must follow the writes).
  query: (text, params = []) =>
    sql.unsafe(text, params as Array<postgres.ParameterOrJSON<never>>, { prepare: true }).execute() as Promise<any>,
  // Without parameters postgres.js uses the simple protocol, which accepts several statements.
  script: async (text) => {
    await sql.unsafe(text)
  }
})

/**
 * A transaction on a reserved connection whose BEGIN goes out with its first statements and
 * whose COMMIT can go out with its last ones (`commitNow`): the statements of a commit then
 * travel in two round trips, not four or five. postgres.js `begin` waits for BEGIN before
 * running the callback and for the callback before COMMIT; on this machine each extra
 * write to the database socket cost ~100-300 µs of the node's CPU (profile of the fan-out
 * scenario: 17.7 % of the node's time was those writes at 200 messages/s).
 */
const pipelinedTransaction = async <A>(sql: postgres.Sql, fn: (tx: SqlTransaction) => Promise<A>): Promise<A> => {
  const conn = await sql.reserve()
  try {
    const begin = conn.unsafe("BEGIN").execute()
    // Awaited below; until then its failure must not count as unhandled.
    begin.catch(() => {})
    let commit: Promise<postgres.RowList<Array<postgres.Row>>> | undefined
    const commitNow = () => {
      if (commit !== undefined) return
      commit = conn.unsafe("COMMIT").execute()
      commit.catch(() => {})
    }
    try {
      const result = await fn({ ...client(conn), commitNow })
      await begin
      commitNow()
      const done = await commit!
      // COMMIT answers ROLLBACK when the transaction had failed; fn would have seen why.
      if (done.command !== "COMMIT") throw new Error(`transaction ended with ${done.command}`)
      return result
    } catch (e) {
      if (commit === undefined) await conn.unsafe("ROLLBACK").catch(() => undefined)
      else await commit.catch(() => undefined)
      throw e
    }
  } finally {
    conn.release()
  }
}

/** The pool as a SqlDatabase, for the store and for tests that inspect rows directly. */
export const makePostgresDatabase = (options: PostgresOptions): Effect.Effect<SqlDatabase, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    const sql = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          postgres(url, {
            max: options.poolSize ?? 10,
            connect_timeout: options.connectTimeoutSeconds ?? 10,
            // Notices ("relation already exists, skipping") are expected from idempotent DDL.
            onnotice: () => {}
          }),
        catch: (cause) => new StoreError({ operation: "connect", cause })
      }),
      (sql) => Effect.promise(() => sql.end({ timeout: 5 }).catch(() => undefined))
    )
    const db: SqlDatabase = {
      ...client(sql),
      transaction: (fn) => pipelinedTransaction(sql, fn)
    }
    yield* Effect.tryPromise({
      try: () => db.query("SELECT 1"),
      catch: (cause) => new StoreError({ operation: "connect", cause })
    })
    return db
  })

/**
 * Groups in flight at once on PostgreSQL: four, leaving the rest of the pool to reads (never
 * fewer than one; a pool of 10 by default). Near this node's limit a group's statement spends
 * most of its p99 waiting for a CPU, and with two in flight every batch behind a slow one
 * waited too: four pairs of 15 s at a fixed 2,500 msg/s in 100 rooms of 2, ack p99 45.7-95.0 ms
 * (median ~59) with two, 26.8-57.7 ms (median ~31) with four, at the same CPU. PGlite keeps the
 * default of two: it runs one statement at a time, so more groups would only be smaller.
 */
export const commitConcurrency = (poolSize: number): number => Math.max(1, Math.min(4, poolSize - 2))

export const makePostgresStore = (options: PostgresOptions): Effect.Effect<ChatStore, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const db = yield* makePostgresDatabase(options)
    if (options.migrations !== undefined) yield* migrate(db, options.migrations)
    return makeSqlStore(db, "postgres", {
      groupCommit: { lingerMs: options.commitLingerMs ?? 0, concurrency: commitConcurrency(options.poolSize ?? 10) }
    })
  })

export const layer = (options: PostgresOptions): Layer.Layer<ChatStoreTag, StoreError> =>
  Layer.scoped(ChatStoreTag, makePostgresStore(options))
