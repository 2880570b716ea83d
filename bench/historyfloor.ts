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
import { Agent, request } from "node:http"
import { fileURLToPath } from "node:url"
import postgres from "postgres"
import { signToken } from "../src/auth/signToken.ts"
import { summarise } from "./lib/histogram.ts"
import { ensureBuilt } from "./lib/build.ts"
import { BENCH_SECRET, startOurs } from "./lib/servers.ts"
import { HISTORY_READER, loadHistory } from "./scenarios/historyData.ts"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
const url = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/chat_historyfloor")
const messages = Number(arg("messages", "200000"))
const pages = Number(arg("pages", "4000"))
const PAGE = 50
const WARMUP = 1000
const RAW_PAGE = `SELECT seq, id, sender, body, ts, reply_to, client_msg_id, edited_at, deleted
FROM messages WHERE room_id = $1::uuid AND seq < $2::bigint ORDER BY seq DESC LIMIT $3::bigint`

/** One GET over a kept-alive connection, answering the body (as scenarios/history.ts does). */
const get = (agent: Agent, target: string, headers: Record<string, string>) =>
  new Promise<string>((resolve, reject) => {
    const req = request(target, { agent, headers, timeout: 30_000 }, (res) => {
      res.setEncoding("utf8")
      let body = ""
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`))))
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error("request timed out")))
    req.on("error", reject)
    req.end()
  })

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

const sides = {
  raw: async (before: number) => (await sql.unsafe(RAW_PAGE, [room.room, before, PAGE], { prepare: true })).length,
  floor: async (before: number) =>
    (JSON.parse(await get(agents.floor, `${floorUrl}/?room=${room.room}&before=${before}`, {})) as { messages: Array<unknown> }).messages.length,
  ours: async (before: number) =>
    (JSON.parse(
      await get(agents.ours, `${ours.httpUrl}/v1/rooms/${room.room}/messages?before=${before}&limit=${PAGE}`, { authorization: `Bearer ${token}` })
    ) as { messages: Array<unknown> }).messages.length
}

try {
  // mulberry32, as scenarios/history.ts: the same positions in every run.
  let a = 0x5eed
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const low = room.firstSeq + PAGE
  const befores = Array.from({ length: pages }, () => low + Math.floor(rand() * (room.lastSeq + 2 - low)))
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
