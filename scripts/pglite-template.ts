/**
 * `npm run pglite-template`: rebuilds sql/pglite-template.tar.gz and its manifest
 * sql/pglite-template.json, the data directory a first embedded start unpacks instead of
 * running initdb (storage/pglite/template.node.ts). Run it after adding a migration or
 * changing the PGlite version; tests/unit/pglite-template.test.ts fails until then.
 */
import { writeFileSync } from "node:fs"
import { buildTemplate } from "../storage/pglite/buildTemplate.node.ts"
import { manifestFile, templateFile } from "../storage/pglite/template.node.ts"
import { loadMigrations } from "../storage/sql/migrations.node.ts"

const { tarGz, manifest } = await buildTemplate(loadMigrations())
writeFileSync(templateFile, tarGz)
writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + "\n")
console.log(`wrote ${templateFile.pathname} (${tarGz.length} bytes) for PGlite ${manifest.pglite}, ${manifest.migrations.length} migrations`)
