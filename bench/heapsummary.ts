/**
 * Bytes and counts by constructor in a V8 heap snapshot (self sizes), optionally as the
 * difference from a second snapshot: `node --import tsx bench/heapsummary.ts after [before] [--top 40]`.
 * With snapshots of a server holding N and M idle connections, the difference divided by
 * M - N is what one connection keeps. Written here because the snapshot format is a flat
 * array that a few lines can fold, and DevTools cannot diff from a script.
 */
import { readFileSync } from "node:fs"

interface Snapshot {
  snapshot: { meta: { node_fields: Array<string>; node_types: [Array<string>, ...Array<unknown>] } }
  nodes: Array<number>
  strings: Array<string>
}

const fold = (file: string): Map<string, { bytes: number; count: number }> => {
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot
  const fields = s.snapshot.meta.node_fields
  const width = fields.length
  const typeAt = fields.indexOf("type")
  const nameAt = fields.indexOf("name")
  const sizeAt = fields.indexOf("self_size")
  const types = s.snapshot.meta.node_types[0]
  const out = new Map<string, { bytes: number; count: number }>()
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!]!
    const name = s.strings[s.nodes[i + nameAt]!]!
    const key = type === "object" || type === "closure" ? `${type} ${name}` : `(${type})`
    const e = out.get(key) ?? { bytes: 0, count: 0 }
    e.bytes += s.nodes[i + sizeAt]!
    e.count += 1
    out.set(key, e)
  }
  return out
}

const args = process.argv.slice(2)
const topAt = args.indexOf("--top")
const top = topAt >= 0 ? Number(args[topAt + 1]) : 40
const files = args.filter((a, i) => !a.startsWith("--") && (topAt < 0 || i !== topAt + 1))
const after = fold(files[0]!)
const before = files[1] !== undefined ? fold(files[1]) : new Map<string, { bytes: number; count: number }>()
const rows = [...new Set([...after.keys(), ...before.keys()])].map((k) => {
  const a = after.get(k) ?? { bytes: 0, count: 0 }
  const b = before.get(k) ?? { bytes: 0, count: 0 }
  return { k, bytes: a.bytes - b.bytes, count: a.count - b.count }
})
rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes))
const total = rows.reduce((t, r) => t + r.bytes, 0)
console.log(`total ${(total / 1024).toFixed(1)} KB`)
for (const r of rows.slice(0, top)) console.log(`${String(r.bytes).padStart(12)} B ${String(r.count).padStart(9)}  ${r.k}`)
