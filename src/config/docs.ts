/**
 * Renders the configuration table for the README from `settings`, so the documented
 * variables, defaults and secrecy are exactly what the code reads.
 */
import { settings } from "./ChatConfig.ts"
import type { Setting } from "./setting.ts"

export const DOCS_START_MARKER = "<!-- config:start -->"
export const DOCS_END_MARKER = "<!-- config:end -->"

// A "|" inside a cell would end it; a newline would end the row.
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ")

// A literal default is shown as code; a sentence ("generated into ...") as prose.
const defaultCell = (doc: string) => (doc === "" ? "" : /\s/.test(doc) ? cell(doc) : `\`${cell(doc)}\``)

const rowOf = (s: Setting<unknown>): string =>
  `| ${[`\`${s.env}\``, cell(s.description), defaultCell(s.defaultDoc), s.secret ? "yes" : ""].join(" | ")} |`

/** Every documented variable name, in table order. */
export const documentedVariables = (): ReadonlyArray<string> => Object.values(settings).map((s) => s.env)

/** The markdown table (no trailing newline). */
export const renderConfigTable = (): string =>
  [
    "| variable | meaning | default | secret |",
    "|---|---|---|---|",
    ...Object.values(settings).map((s) => rowOf(s as Setting<unknown>))
  ].join("\n")

/**
 * The README section between the markers, or undefined when the markers are absent. Trimmed,
 * so blank lines around the table do not count as drift.
 */
export const extractConfigSection = (readme: string): string | undefined => {
  const start = readme.indexOf(DOCS_START_MARKER)
  const end = readme.indexOf(DOCS_END_MARKER)
  if (start < 0 || end < start) return undefined
  return readme.slice(start + DOCS_START_MARKER.length, end).trim()
}
