/**
 * How far a history page over HTTP can come to the raw query at all. The history scenario
 * (scenarios/history.ts) compares our REST page with the raw SQL query run in the bench
 * process, which pays no HTTP, no JSON and no second process. This tool puts a third side
 * beside them: a minimal server (node:http, postgres.js, the same raw query, the rows as
 * JSON; no auth, decryption or framework, ./historyfloor-server.mjs in a child process),
 * fetched by the same client. Its ratio to the raw query is the floor of what any REST
 * server on this machine can show in that scenario's figure. Pages alternate
 * raw / floor / ours at the same random positions, after a warm-up of each.
 *
 *   node --import tsx bench/historyfloor.ts [--postgres-url URL] [--messages 200000] [--pages 4000]
 *
 * The database named in the URL is dropped and created anew.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { Agent } from "node:http"
import { fileURLToPath } from "node:url"
import postgres from "postgres"
import { signToken } from "../src/auth/signToken.ts"
import { summarise } from "./lib/histogram.ts"
import { ensureBuilt } from "./lib/build.ts"
import { arg } from "./lib/args.ts"
import { BENCH_SECRET, startOurs } from "./lib/servers.ts"
import { get, PAGE, positions, RAW_PAGE } from "./scenarios/history.ts"
import { HISTORY_READER, loadHistory } from "./scenarios/historyData.ts"

const url = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/chat_historyfloor")
const messages = Number(arg("messages", "200000"))
const pages = Number(arg("pages", "4000"))
const WARMUP = 1000

// Our node runs as `npm start` runs it: the bundle in dist/.
await ensureBuilt((line) => console.log(line))
const admin = postgres(url.replace(/\/[^/]*$/, "/postgres"), { max: 1, onnotice: () => {} })
const dbName = url.replace(/^.*\//, "")
await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName}`)
await admin.unsafe(`CREATE DATABASE ${dbName}`)
await admin.end()

const room = await loadHistory({ store: "postgres", url }, messages, 2000, () => {})
const sql = postgres(url, { max: 1, onnotice: () => {} })
await sql.unsafe("ANALYZE")

const floor = spawn(process.execPath, [fileURLToPath(new URL("./historyfloor-server.mjs", import.meta.url)), url], {
  stdio: ["ignore", "pipe", "inherit"]
})
const [portLine] = (await once(floor.stdout!, "data")) as [Buffer]
const floorUrl = `http://127.0.0.1:${Number(String(portLine).trim())}`
const ours = await startOurs({ store: "postgres", postgresUrl: url }).catch((e) => {
  floor.kill()
  throw e
})
const token = await Effect.runPromise(signToken(BENCH_SECRET, HISTORY_READER, { expiresIn: "1h" }))
const agents = { floor: new Agent({ keepAlive: true, maxSockets: 1 }), ours: new Agent({ keepAlive: true, maxSockets: 1 }) }

/** A page's messages, from a 200 answer; anything else fails the run. */
const pageOf = async (agent: Agent, target: string, headers: Record<string, string>): Promise<number> => {
  const { status, body } = await get(agent, new URL(target), headers)
  if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 200)}`)
  return (JSON.parse(body) as { messages: Array<unknown> }).messages.length
}

const sides = {
  raw: async (before: number) => (await sql.unsafe(RAW_PAGE, [room.room, before, PAGE], { prepare: true })).length,
  floor: (before: number) => pageOf(agents.floor, `${floorUrl}/?room=${room.room}&before=${before}`, {}),
  ours: (before: number) =>
    pageOf(agents.ours, `${ours.httpUrl}/v1/rooms/${room.room}/messages?before=${before}&limit=${PAGE}`, { authorization: `Bearer ${token}` })
}

try {
  // The same positions as the history scenario's, in every run.
  const befores = positions(room, pages)
  const names = ["raw", "floor", "ours"] as const
  for (let i = 0; i < WARMUP; i++) for (const n of names) await sides[n](befores[i % pages]!)
  const times = { raw: [] as Array<number>, floor: [] as Array<number>, ours: [] as Array<number> }
  for (const b of befores) {
    for (const n of names) {
      const t0 = performance.now()
      const rows = await sides[n](b)
      times[n].push(performance.now() - t0)
      if (rows !== PAGE) throw new Error(`${n}: page before ${b} had ${rows} messages`)
    }
  }
  const raw = summarise(times.raw)
  console.log(`${messages} messages, ${pages} pages of ${PAGE} each side, alternated`)
  for (const n of names) {
    const s = summarise(times[n])
    console.log(`${n.padEnd(6)} p50 ${s.p50} ms  p99 ${s.p99} ms  p99 / raw p99 ${(s.p99 / raw.p99).toFixed(2)}x`)
  }
} finally {
  agents.floor.destroy()
  agents.ours.destroy()
  floor.kill()
  await ours.stop()
  await sql.end({ timeout: 5 })
}
