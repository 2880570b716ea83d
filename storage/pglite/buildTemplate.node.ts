/**
 * Builds the template data directory (see ./template.node.ts): initdb in memory with the
 * embedded store's settings, every sql/ migration applied, a checkpoint, then PGlite's own
 * tar dump. Used by scripts/pglite-template.ts (writes the committed files) and by the
 * template's staleness test.
 */
import { PGlite } from "@electric-sql/pglite"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { Effect } from "effect"
import { type Migration, migrate } from "../sql/migrate.ts"
import { pgliteDatabase } from "./PgliteStore.ts"
import { pgliteStartParams } from "./settings.ts"
import { manifestOf, type TemplateManifest } from "./template.node.ts"

/** The installed @electric-sql/pglite version (its package.json). */
export const installedPgliteVersion = (): string => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve("@electric-sql/pglite")
  // .../node_modules/@electric-sql/pglite/dist/index.cjs -> .../pglite/package.json
  const pkg = new URL("../package.json", `file://${entry}`)
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version
}

export const buildTemplate = async (
  migrations: ReadonlyArray<Migration>
): Promise<{ readonly tarGz: Uint8Array; readonly manifest: TemplateManifest }> => {
  const pg = await PGlite.create({ startParams: pgliteStartParams() })
  try {
    await Effect.runPromise(migrate(pgliteDatabase(pg), migrations))
    await pg.exec("CHECKPOINT")
    const dump = await pg.dumpDataDir("gzip")
    return {
      tarGz: new Uint8Array(await dump.arrayBuffer()),
      manifest: manifestOf(installedPgliteVersion(), migrations)
    }
  } finally {
    await pg.close()
  }
}
