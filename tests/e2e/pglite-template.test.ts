/**
 * The embedded store's template data directory and memory settings (storage/pglite/), opened
 * for real: what can be asserted without timing. The checks that need no PGlite are in
 * tests/unit/pglite-template.test.ts; start time and RSS are measured by bench/embedded.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { openPglite, pgliteDatabase } from "../../storage/pglite/PgliteStore.ts"
import { PGLITE_SETTINGS } from "../../storage/pglite/settings.ts"
import { readTemplate } from "../../storage/pglite/template.node.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"

/** A PGlite open is seconds of WASM; this machine is shared and loaded. */
const OPEN_TIMEOUT = 60_000

const scratch = mkdtempSync(join(tmpdir(), "chat-pglite-template-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** Opens `dataDir` with the committed template, applies the migrations, answers what it applied. */
const openAndMigrate = (dataDir: string, template: () => Uint8Array | undefined = readTemplate) =>
  Effect.gen(function* () {
    const pg = yield* openPglite({ dataDir, template })
    const applied = yield* migrate(pgliteDatabase(pg), loadMigrations())
    return { pg, applied }
  })

describe("pglite template", () => {
  it.scoped("pglite template - a first start on an empty data dir unpacks it: schema at the latest migration, no migration left to run, mode 0700", () =>
    Effect.gen(function* () {
      const dataDir = join(scratch, "first", "pglite")
      const { pg, applied } = yield* openAndMigrate(dataDir)
      // Every migration was already in the template: initdb did not make this directory.
      expect(applied).toEqual([])
      const rows = yield* Effect.promise(() => pg.query<{ name: string }>("SELECT name FROM schema_migrations ORDER BY name"))
      expect(rows.rows.map((r) => r.name)).toEqual(loadMigrations().map((m) => m.name))
      // The tables of the migrations are there and usable.
      yield* Effect.promise(() => pg.query("SELECT count(*) FROM messages"))
      expect(statSync(dataDir).mode & 0o777).toBe(0o700)
      expect(existsSync(`${dataDir}.unpacking`)).toBe(false)
      expect(readFileSync(join(dataDir, "PG_VERSION"), "utf8").trim()).toMatch(/^\d+$/)
    }),
    OPEN_TIMEOUT
  )

  it.scoped("pglite template - an empty data dir that already exists gets the template too", () =>
    Effect.gen(function* () {
      const dataDir = join(scratch, "empty", "pglite")
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
      const { applied } = yield* openAndMigrate(dataDir)
      expect(applied).toEqual([])
    }),
    OPEN_TIMEOUT
  )

  it.effect("pglite template - a data dir that holds a database is reopened, never replaced by the template", () =>
    Effect.gen(function* () {
      const dataDir = join(scratch, "reopen", "pglite")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const { pg } = yield* openAndMigrate(dataDir)
          yield* Effect.promise(() => pg.exec("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"))
        })
      )
      let templateRead = false
      const value = yield* Effect.scoped(
        Effect.gen(function* () {
          const { pg } = yield* openAndMigrate(dataDir, () => {
            templateRead = true
            return readTemplate()
          })
          return (yield* Effect.promise(() => pg.query<{ v: number }>("SELECT v FROM kept"))).rows[0]?.v
        })
      )
      expect(value).toBe(42)
      expect(templateRead).toBe(false)
    }),
    2 * OPEN_TIMEOUT
  )

  it.scoped("pglite settings - the memory bounds of settings.ts are in force", () =>
    Effect.gen(function* () {
      const { pg } = yield* openAndMigrate(join(scratch, "settings", "pglite"))
      for (const [name, value] of Object.entries(PGLITE_SETTINGS)) {
        const shown = yield* Effect.promise(() => pg.query<Record<string, string>>(`SHOW ${name}`))
        expect({ name, value: Object.values(shown.rows[0]!)[0] }).toEqual({ name, value })
      }
    }),
    OPEN_TIMEOUT
  )

  it.scoped(
    "pglite template - a template that does not open is removed and initdb makes the data dir instead",
    () =>
      Effect.gen(function* () {
        const bogus = join(scratch, "bogus")
        mkdirSync(bogus)
        writeFileSync(join(bogus, "PG_VERSION"), "9\n")
        const tar = spawnSync("tar", ["-C", bogus, "-czf", "-", "."], { maxBuffer: 1 << 20 })
        expect(tar.status).toBe(0)
        const dataDir = join(scratch, "fallback", "pglite")
        const { applied } = yield* openAndMigrate(dataDir, () => new Uint8Array(tar.stdout))
        // initdb's fresh directory had none of the migrations.
        expect(applied).toEqual(loadMigrations().map((m) => m.name))
        expect(readFileSync(join(dataDir, "PG_VERSION"), "utf8").trim()).not.toBe("9")
        expect(readdirSync(join(scratch, "fallback"))).toEqual(["pglite"])
      }),
    120_000
  )
})
