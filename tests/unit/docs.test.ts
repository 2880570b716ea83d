/**
 * Keeps the prose in docs/ from drifting away from the code it describes: the error table in
 * docs/errors.md must list exactly the codes and HTTP statuses of `errorTable`, its close-code
 * table exactly `CloseCode`, and docs/protocol.md every client frame type and event kind.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { EventKind } from "../../core/model.ts"
import { CloseCode, errorTable } from "../../src/protocol/errorMap.ts"
import { ClientFrame } from "../../src/protocol/frames.ts"

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8")

/** The cells of every markdown table row in `text` (header and separator rows included). */
const tableRows = (text: string): ReadonlyArray<ReadonlyArray<string>> =>
  text
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .replace(/^\|/, "")
        .replace(/\|\s*$/, "")
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim())
    )

/** The body of the section that starts at the `## heading` line, up to the next `## `. */
const section = (text: string, heading: string): string => {
  const start = text.indexOf(`\n## ${heading}\n`)
  if (start < 0) throw new Error(`no "## ${heading}" section`)
  const rest = text.slice(start + heading.length + 5)
  const end = rest.search(/\n## /)
  return end < 0 ? rest : rest.slice(0, end)
}

const errorsDoc = read("docs/errors.md")

/** Rows of the error-code table: first cell a `code` in backticks. */
const documentedErrors = () =>
  tableRows(section(errorsDoc, "Error codes")).flatMap((cells) => {
    const code = /^`([a-z_]+)`$/.exec(cells[0] ?? "")
    return code ? [{ code: code[1], status: Number(cells[1]), wsCode: cells[2] }] : []
  })

describe("docs", () => {
  it("docs - errors.md lists exactly the error codes and HTTP statuses of errorTable", () => {
    const documented = documentedErrors()
    // Several tags may share a wire code (NotOwner and MailboxFull read as unavailable): one row each code.
    const expected = [...new Map(Object.values(errorTable).map(({ code, status }) => [code, { code, status }])).values()]
    const byCode = (a: { code: string }, b: { code: string }) => a.code.localeCompare(b.code)
    expect(documented.map(({ code, status }) => ({ code, status })).sort(byCode)).toEqual([...expected].sort(byCode))
    // Each code once: a duplicated row would hide a stale status behind a correct one.
    expect(new Set(documented.map((r) => r.code)).size).toBe(documented.length)
  })

  it("docs - errors.md gives each code as its own WebSocket error code", () => {
    for (const row of documentedErrors()) expect(row.wsCode).toBe(`\`${row.code}\``)
  })

  it("docs - errors.md lists exactly the WebSocket close codes the server sends", () => {
    const closeRows = tableRows(section(errorsDoc, "WebSocket close codes")).flatMap((cells) =>
      /^\d{4}$/.test(cells[0] ?? "") ? [Number(cells[0])] : []
    )
    expect([...closeRows].sort()).toEqual(Object.values(CloseCode).sort())
  })

  it("docs - protocol.md documents every client frame type and every event kind", () => {
    const protocol = read("docs/protocol.md")
    const clientFrames = tableRows(section(protocol, "WebSocket")).flatMap((cells) => {
      const type = /^`([a-z]+)`$/.exec(cells[0] ?? "")
      return type ? [type[1]] : []
    })
    for (const member of ClientFrame.members) {
      expect(clientFrames).toContain(member.fields.type.literals[0])
    }
    for (const kind of EventKind.literals) expect(protocol).toContain(`\`${kind}\``)
  })
})
