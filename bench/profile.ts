/**
 * Summarises a V8 `.cpuprofile` (from `BENCH_CPU_PROF=<dir> npm run bench ...` or
 * `node --cpu-prof`): self time by function and by package/area, as percentages of the
 * profiled wall time. Written here rather than taken from a package because the format is
 * a small JSON tree and the grouping we want (our source folders vs. each dependency) is
 * specific to this repository.
 *
 *   node --import tsx bench/profile.ts <file.cpuprofile> [--top 30] [--skip 6]
 *
 * `--skip <s>` leaves out the first seconds of the profile (the node's start and the bench's
 * warm-up), so that the figures are those of the measured load only.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

/** The area a frame belongs to: a dependency's name, one of our top folders, or a V8 pseudo-frame. */
export const areaOf = (url: string, fn: string): string => {
  if (url === "") return fn.startsWith("(") ? fn : "(native)"
  const nm = url.lastIndexOf("/node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + "/node_modules/".length).split("/")
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith("node:")) return url
  const m = /\/(src|storage|actors|bench)\/(.*)$/.exec(url)
  if (m) return `${m[1]}/${m[2]!.split("/")[0]}`
  return url
}

export interface ProfileSummary {
  /** Profiled wall time, seconds. */
  readonly seconds: number
  /** Self time by area, percent of wall time (idle included), largest first. */
  readonly areas: ReadonlyArray<{ readonly name: string; readonly pct: number }>
  /** Self time by function, percent of wall time, largest first. */
  readonly functions: ReadonlyArray<{ readonly name: string; readonly pct: number }>
}

export const summarise = (p: Profile, top: number, skipSeconds = 0): ProfileSummary => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  // Sample i was taken at startTime + the sum of timeDeltas[0..i] (microseconds).
  const from = p.startTime + skipSeconds * 1e6
  let at = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0
    if (at <= from) continue
    const id = p.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0))
  }
  const total = p.endTime - Math.min(from, p.endTime)
  const fns = new Map<string, number>()
  const areas = new Map<string, number>()
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    const short = url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*?\/(src|storage|actors|bench)\//, "$1/")
    const key = `${functionName || "(anonymous)"} ${short}${url ? `:${lineNumber + 1}` : ""}`.trim()
    fns.set(key, (fns.get(key) ?? 0) + us)
    const area = areaOf(url, functionName)
    areas.set(area, (areas.get(area) ?? 0) + us)
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, pct: Math.round((1000 * us) / total) / 10 }))
  return { seconds: Math.round(total / 1e5) / 10, areas: sorted(areas), functions: sorted(fns) }
}

export const readProfile = (file: string): Profile => JSON.parse(readFileSync(file, "utf8")) as Profile

export const formatSummary = (s: ProfileSummary) =>
  [
    `profiled ${s.seconds} s, busy ${(100 - (s.areas.find((a) => a.name === "(idle)")?.pct ?? 0)).toFixed(1)} % of it`,
    "",
    "self time by area:",
    ...s.areas.map((a) => `  ${a.pct.toFixed(1).padStart(5)} %  ${a.name}`),
    "",
    "self time by function:",
    ...s.functions.map((f) => `  ${f.pct.toFixed(1).padStart(5)} %  ${f.name}`)
  ].join("\n")

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ options: { top: { type: "string" }, skip: { type: "string" } }, allowPositionals: true })
  if (positionals.length !== 1) {
    console.error("usage: node --import tsx bench/profile.ts <file.cpuprofile> [--top N] [--skip seconds]")
    process.exit(2)
  }
  console.log(formatSummary(summarise(readProfile(positionals[0]!), Number(values.top ?? 30), Number(values.skip ?? 0))))
}
