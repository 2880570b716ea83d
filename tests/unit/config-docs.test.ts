import { existsSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { settings } from "../../src/config/ChatConfig.ts"
import { DOCS_END_MARKER, DOCS_START_MARKER, documentedVariables, extractConfigSection, renderConfigTable } from "../../src/config/docs.ts"

const README = new URL("../../README.md", import.meta.url)

describe("config docs", () => {
  it("config docs - the README table equals the generated one (regenerate: npx tsx src/config/render-docs.ts)", () => {
    const section = existsSync(README) ? extractConfigSection(readFileSync(README, "utf8")) : undefined
    if (section === undefined) {
      // No README or no markers yet: at least the renderer must list every variable.
      const table = renderConfigTable()
      for (const s of Object.values(settings)) expect(table).toContain(`| \`${s.env}\` |`)
      return
    }
    expect(section).toBe(renderConfigTable())
  })

  it("config docs - lists every variable once, with its default and secrecy", () => {
    const table = renderConfigTable()
    const rows = table.split("\n").slice(2)
    expect(rows.length).toBe(documentedVariables().length)
    expect(table).toContain("| `CHAT_PORT` | HTTP and WebSocket port (0 picks a free port) | `8080` |  |")
    expect(rows.find((r) => r.startsWith("| `CHAT_JWT_SECRET` |"))).toMatch(/\| yes \|$/)
    expect(rows.find((r) => r.startsWith("| `CHAT_POSTGRES_URL` |"))).toMatch(/\| yes \|$/)
    expect(rows.find((r) => r.startsWith("| `CHAT_STORE` |"))).toContain("`pglite`")
  })

  it("config docs - the section between the markers is found and trimmed", () => {
    const readme = `# x\n${DOCS_START_MARKER}\n\n| a |\n\n${DOCS_END_MARKER}\nrest`
    expect(extractConfigSection(readme)).toBe("| a |")
    expect(extractConfigSection("# no markers")).toBeUndefined()
  })
})
