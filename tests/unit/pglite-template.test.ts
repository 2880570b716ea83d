/**
 * The embedded store's template data directory (storage/pglite/): what can be checked without
 * opening PGlite. Opening it (a database, seconds of WASM) is tested in
 * tests/e2e/pglite-template.test.ts; start time and RSS are measured by bench/embedded.ts.
 */
import { describe, expect, it } from "vitest"
import { gunzipSync } from "node:zlib"
import { installedPgliteVersion } from "../../storage/pglite/buildTemplate.node.ts"
import { manifestOf, readManifest, readTar, readTemplate } from "../../storage/pglite/template.node.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"

describe("pglite template", () => {
  it("pglite template - the committed template was built from this tree's sql/ migrations and PGlite version (else run `npm run pglite-template`)", () => {
    expect(readManifest()).toEqual(manifestOf(installedPgliteVersion(), loadMigrations()))
  })

  it("pglite template - the archive holds a data directory and nothing else", () => {
    const entries = readTar(gunzipSync(readTemplate()!))
    const paths = entries.map((e) => e.path.replace(/^\/+/, ""))
    expect(paths).toContain("PG_VERSION")
    expect(paths).toContain("global/pg_control")
    expect(new Set(paths).size).toBe(paths.length)
    expect(entries.every((e) => e.type === "file" || e.type === "directory")).toBe(true)
  })
})
