/**
 * The ChatStore on PGlite, the embedded (WASM) PostgreSQL of the default mode: the shared
 * SqlStore over a PGlite adapter. The database lives in a directory, or in memory for tests;
 * it is opened when the scope opens and closed when it closes.
 *
 * PGlite is one backend: a transaction holds it whole. Every call therefore goes through one
 * queue, so a read issued while a commit is open waits for the commit instead of running
 * inside it. (PGlite queues internally too; this keeps the guarantee ours.)
 */
import { PGlite, type Transaction } from "@electric-sql/pglite"
import { existsSync, readdirSync, rmdirSync, rmSync } from "node:fs"
import { Effect, Layer, type Scope } from "effect"
import { StoreError } from "../../core/errors.ts"
import { type ChatStore, ChatStoreTag } from "../ChatStore.ts"
import { type Migration, migrate } from "../sql/migrate.ts"
import type { SqlClient, SqlDatabase } from "../sql/SqlClient.ts"
import { makeSqlStore } from "../sql/SqlStore.ts"
import { queryPrepared } from "./prepared.ts"
import { compileWasmBaselineOnly, pgliteStartParams } from "./settings.ts"
import { unpackTemplate } from "./template.node.ts"

export interface PgliteOptions {
  /** Directory of the database files (created when missing); in memory when absent. */
  readonly dataDir?: string
  /** Applied at start (see storage/sql/migrations.node.ts); none when absent. */
  readonly migrations?: ReadonlyArray<Migration>
  /**
   * A template data directory (gzip'd tar, see ./template.node.ts) unpacked into a new
   * `dataDir` instead of running initdb (read only then); initdb when absent or undefined.
   */
  readonly template?: () => Uint8Array | undefined
  /** Group commit linger, ms (storage/sql/groupCommit.ts); default 0. */
  readonly commitLingerMs?: number
}

const client = (db: PGlite | Transaction): SqlClient => ({
  query: async (text, params = []) => (await db.query<Record<string, unknown>>(text, [...params])).rows,
  script: async (text) => {
    await db.exec(text)
  }
})

/** Outside transactions: named prepared statements (./prepared.ts), `query` past their cap. */
const topLevel = (db: PGlite): SqlClient => ({
  query: async (text, params = []) => (await queryPrepared(db, text, params)) ?? (await db.query<Record<string, unknown>>(text, [...params])).rows,
  script: async (text) => {
    await db.exec(text)
  }
})

/** One at a time, in call order; a failure does not block the queue. */
const serialised = () => {
  let tail: Promise<unknown> = Promise.resolve()
  return <A>(f: () => Promise<A>): Promise<A> => {
    const run = tail.then(f, f)
    tail = run.catch(() => undefined)
    return run
  }
}

/** An open PGlite as a SqlDatabase; the caller keeps ownership (tests share one per file). */
export const pgliteDatabase = (db: PGlite): SqlDatabase => {
  const exclusive = serialised()
  const direct = topLevel(db)
  return {
    query: (text, params) => exclusive(() => direct.query(text, params)),
    script: (text) => exclusive(() => direct.script(text)),
    transaction: (fn) => exclusive(() => db.transaction((tx) => fn(client(tx))))
  }
}

/** True when `dir` holds no database yet: missing, or an empty folder. */
const isNewDataDir = (dir: string): boolean =>
  !existsSync(dir) || (!existsSync(`${dir}/PG_VERSION`) && readdirSync(dir).length === 0)

const create = (dataDir: string | undefined) => {
  compileWasmBaselineOnly()
  return PGlite.create({ ...(dataDir === undefined ? {} : { dataDir }), startParams: pgliteStartParams() })
}

/**
 * Opens the database with the settings of ./settings.ts. A new data directory starts from
 * the template when one is given; if that copy does not open (a template from another
 * PGlite build), it is removed and initdb makes the directory as it would without one.
 */
const open = async (options: Pick<PgliteOptions, "dataDir" | "template">): Promise<PGlite> => {
  const { dataDir } = options
  if (dataDir === undefined || !isNewDataDir(dataDir)) return create(dataDir)
  const template = options.template?.()
  if (template === undefined) return create(dataDir)
  if (existsSync(dataDir)) rmdirSync(dataDir)
  await unpackTemplate(template, dataDir)
  try {
    return await create(dataDir)
  } catch {
    rmSync(dataDir, { recursive: true, force: true })
    return create(dataDir)
  }
}

export const openPglite = (
  options: Pick<PgliteOptions, "dataDir" | "template">
): Effect.Effect<PGlite, StoreError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => open(options),
      catch: (cause) => new StoreError({ operation: "connect", cause })
    }),
    (db) => Effect.promise(() => db.close().catch(() => undefined))
  )

export const makePgliteStore = (options: PgliteOptions = {}): Effect.Effect<ChatStore, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const db = pgliteDatabase(yield* openPglite(options))
    if (options.migrations !== undefined) yield* migrate(db, options.migrations)
    return makeSqlStore(db, "pglite", { groupCommit: { lingerMs: options.commitLingerMs ?? 0 } })
  })

export const layer = (options: PgliteOptions = {}): Layer.Layer<ChatStoreTag, StoreError> =>
  Layer.scoped(ChatStoreTag, makePgliteStore(options))
