/**
 * The migration runner: applies the not-yet-applied files of sql/ in name order, each in its
 * own transaction, and records them in schema_migrations. It does no file I/O (the caller
 * passes the texts in, see ./migrations.node.ts), so it runs on every runtime and driver.
 *
 * Two processes starting at once take turns on a transaction-scoped advisory lock; the second
 * finds the first one's migrations recorded and skips them. A failing migration rolls back
 * whole, with its record, and stops the run: files are forward-only, fix forward.
 */
import { Effect } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { SqlDatabase } from "./SqlClient.ts"

export interface Migration {
  /** The file name, e.g. `0001_init.sql`; names sort in application order. */
  readonly name: string
  readonly sql: string
}

/** Class 7300 of the two-key advisory locks; 7301 guards room keys (queries.ts). */
const LOCK = "SELECT pg_advisory_xact_lock(7300, 0)"

const CREATE_LEDGER = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  name       text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`

const IS_APPLIED = "SELECT 1 AS applied FROM schema_migrations WHERE name = $1::text"
const RECORD = "INSERT INTO schema_migrations (name) VALUES ($1::text)"

/** Answers the names it applied now (empty when the database was up to date). */
export const migrate = (
  db: SqlDatabase,
  migrations: ReadonlyArray<Migration>
): Effect.Effect<ReadonlyArray<string>, StoreError> =>
  Effect.tryPromise({
    try: async () => {
      const ordered = [...migrations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      const names = new Set(ordered.map((m) => m.name))
      if (names.size !== ordered.length) throw new Error("two migrations share a name")
      const applied: Array<string> = []
      for (const m of ordered) {
        const didApply = await db.transaction(async (tx) => {
          await tx.query(LOCK)
          await tx.query(CREATE_LEDGER)
          if ((await tx.query(IS_APPLIED, [m.name])).length > 0) return false
          await tx.script(m.sql)
          await tx.query(RECORD, [m.name])
          return true
        })
        if (didApply) applied.push(m.name)
      }
      return applied
    },
    catch: (cause) => new StoreError({ operation: "migrate", cause })
  })
