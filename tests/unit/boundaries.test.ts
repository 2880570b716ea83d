/**
 * The floor plan (docs/architecture.md) as a test: imports point down src/ -> actors/,
 * storage/ -> core/ -> libraries, with the rules in .dependency-cruiser.cjs.
 */
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { cruise, type ICruiseResult, type IFlattenedRuleSet } from "dependency-cruiser"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))
const rules = createRequire(import.meta.url)("../../.dependency-cruiser.cjs") as IFlattenedRuleSet & { options: object }

const violations = async (baseDir: string, dirs: ReadonlyArray<string>) => {
  const { output } = await cruise([...dirs], {
    validate: true,
    ruleSet: rules,
    baseDir,
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true
  })
  return (output as ICruiseResult).summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)
}

describe("boundaries", () => {
  it("boundaries - no import in src/, actors/, storage/ or core/ points up the floor plan", async () => {
    expect(await violations(root, ["src", "actors", "core", "storage"])).toEqual([])
  })

  it("boundaries - the rules catch core/, storage/ and actors/ importing upwards", async () => {
    const found = await violations(fileURLToPath(new URL("./fixtures/boundaries/", import.meta.url)), [
      "src",
      "actors",
      "core",
      "storage"
    ])
    expect(found.sort()).toEqual([
      "actors-import-core-and-the-store-contract: actors/actor.ts -> storage/store.ts",
      "core-imports-only-libraries: core/model.ts -> src/gateway.ts",
      "storage-imports-only-core: storage/store.ts -> src/gateway.ts"
    ])
  })
})
