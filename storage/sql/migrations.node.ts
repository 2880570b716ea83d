/**
 * Loads the sql/*.sql migrations from disk. The only file of the SQL stores that does I/O.
 * node:fs with a file URL works on Node and on Deno (node: compatibility), so both entry
 * points use this. From a build in dist/, pass the sql/ folder explicitly: tsc copies no .sql.
 */
import { readdirSync, readFileSync } from "node:fs"
import type { Migration } from "./migrate.ts"

export const migrationsDir = new URL("../../sql/", import.meta.url)

export const loadMigrations = (dir: URL = migrationsDir): ReadonlyArray<Migration> =>
  readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort()
    .map((name) => ({ name, sql: readFileSync(new URL(name, dir), "utf8") }))
