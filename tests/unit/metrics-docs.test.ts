import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { renderMetricsDoc } from "../../src/metrics/docs.ts"
import { catalog } from "../../src/metrics/metrics.ts"
import { OPERATION_NAMES } from "../../storage/instrumented.ts"

const DOC = new URL("../../docs/metrics.md", import.meta.url)

describe("metrics docs", () => {
  it("metrics docs - docs/metrics.md equals the generated one (regenerate: npx tsx src/metrics/render-docs.ts > docs/metrics.md)", () => {
    expect(readFileSync(DOC, "utf8")).toBe(renderMetricsDoc())
  })

  it("metrics docs - lists every series once with its labels, and the operation map", () => {
    const doc = renderMetricsDoc()
    for (const m of catalog) {
      const rows = doc.split("\n").filter((l) => l.startsWith(`| \`${m.name}\` |`))
      expect(rows).toHaveLength(1)
      for (const label of m.labels) expect(rows[0]).toContain(`\`${label}\``)
    }
    expect(doc).toContain("| `commit` | `save_message` (`react` for a batch of reactions only) |")
    for (const [ours, theirs] of Object.entries(OPERATION_NAMES)) expect(doc).toContain(`| \`${ours}\` | \`${theirs}\``)
  })
})
