/**
 * Scenario 4, history: one room with M messages, then pages of 50 at random positions
 * through REST (`GET /v1/rooms/:room/messages?before=&limit=50`, one request at a time,
 * keep-alive) and the same pages by a raw SQL query on the same database (on PostgreSQL
 * alternating with the REST pages, page by page; on PGlite after them). The
 * raw query is the floor: the same rows as stored (ciphertext, no reactions join, no
 * decryption, no HTTP, no auth, no JSON), which is what the REST path adds on top.
 *
 * PGlite's raw query runs in this process once the server has stopped (one process may
 * hold a PGlite directory at a time); PostgreSQL's from a separate connection.
 */
import { PGlite } from "@electric-sql/pglite"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { Agent, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import postgres from "postgres"
import { signToken } from "../../src/auth/signToken.ts"
import type { BenchConfig } from "../config.ts"
import { summarise, type LatencySummary } from "../lib/histogram.ts"
import type { BenchPostgres } from "../lib/postgres.ts"
import { BENCH_SECRET, startOurs, type RunningServer } from "../lib/servers.ts"
import { HISTORY_READER, loadHistory, type HistoryRoom } from "./historyData.ts"
import type { Log } from "./stepped.ts"

export const PAGE = 50
/** Unmeasured pages first, on both sides: JIT, connection pools, caches, prepared plans. */
const WARMUP_QUERIES = 1000

export const RAW_PAGE = `
SELECT seq, id, sender, body, ts, reply_to, client_msg_id, edited_at, deleted
FROM messages WHERE room_id = $1::uuid AND seq < $2::bigint
ORDER BY seq DESC LIMIT $3::bigint`

export interface HistoryRun {
  readonly store: "postgres" | "pglite"
  readonly messages: number
  readonly error?: string
  readonly loadS?: number
  readonly loadRate?: number
  readonly queries?: number
  /** Send to full JSON body, ms. */
  readonly rest?: LatencySummary
  readonly raw?: LatencySummary
  /** REST p99 / raw p99. */
  readonly p99Ratio?: number
  /** REST and raw pages alternated page by page (PostgreSQL since this was recorded). */
  readonly interleaved?: boolean
}

/** Data left for the cold-start scenario (removed by the caller). */
export interface HistoryData {
  readonly messages: number
  readonly pgliteDir?: string
  readonly postgresUrl?: string
}

export interface HistoryResult {
  readonly runs: ReadonlyArray<HistoryRun>
  readonly data: HistoryData
}

/** mulberry32: reproducible positions, the same in every run. */
export const positions = (room: HistoryRoom, n: number): Array<number> => {
  let a = 0x5eed
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  // `before` such that 50 messages lie below it: firstSeq+50 .. lastSeq+1.
  const low = room.firstSeq + PAGE
  const span = room.lastSeq + 1 - low + 1
  return Array.from({ length: n }, () => low + Math.floor(rand() * span))
}

const timeAll = async (befores: ReadonlyArray<number>, fetchPage: (before: number) => Promise<number>): Promise<Array<number>> => {
  for (let i = 0; i < WARMUP_QUERIES; i++) await fetchPage(befores[i % befores.length]!)
  const out: Array<number> = []
  for (const b of befores) {
    const t0 = performance.now()
    const rows = await fetchPage(b)
    out.push(performance.now() - t0)
    if (rows !== PAGE) throw new Error(`page before ${b} had ${rows} messages, expected ${PAGE}`)
  }
  return out
}

/**
 * One GET over a kept-alive connection with node:http, answering status and body. Not
 * `fetch`: Node 20's fetch (undici) adds about a millisecond of the client's own work to
 * every request, which this scenario would count as the server's.
 */
export const get = (agent: Agent, url: URL, headers: Record<string, string>): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { agent, headers, timeout: 30_000 }, (res) => {
      res.setEncoding("utf8")
      let body = ""
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error("history request timed out")))
    req.on("error", reject)
    req.end()
  })

/** One REST page fetcher over a kept-alive connection; `close` ends the connection. */
const restPages = async (server: RunningServer, room: HistoryRoom) => {
  const token = await Effect.runPromise(signToken(BENCH_SECRET, HISTORY_READER, { expiresIn: "6h" }))
  const headers = { authorization: `Bearer ${token}` }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  return {
    fetchPage: async (before: number) => {
      const res = await get(agent, new URL(`${server.httpUrl}/v1/rooms/${room.room}/messages?before=${before}&limit=${PAGE}`), headers)
      const body = JSON.parse(res.body) as { messages?: Array<unknown> }
      if (res.status !== 200) throw new Error(`history HTTP ${res.status}: ${res.body.slice(0, 300)}`)
      return body.messages?.length ?? 0
    },
    close: () => agent.destroy()
  }
}

const restTimes = async (server: RunningServer, room: HistoryRoom, befores: ReadonlyArray<number>) => {
  const rest = await restPages(server, room)
  try {
    return await timeAll(befores, rest.fetchPage)
  } finally {
    rest.close()
  }
}

/**
 * REST and raw pages alternated, page by page at the same position, after both sides' warm-up:
 * both sides then meet the same background (a checkpoint, autovacuum after the bulk load, the
 * orchestrator's own GC), where timing all REST pages and then all raw ones gave each its own.
 */
const interleavedTimes = async (
  befores: ReadonlyArray<number>,
  rest: (before: number) => Promise<number>,
  raw: (before: number) => Promise<number>
): Promise<{ rest: Array<number>; raw: Array<number> }> => {
  for (let i = 0; i < WARMUP_QUERIES; i++) {
    await rest(befores[i % befores.length]!)
    await raw(befores[i % befores.length]!)
  }
  const out = { rest: [] as Array<number>, raw: [] as Array<number> }
  for (const b of befores) {
    for (const [side, fetchPage] of [["rest", rest], ["raw", raw]] as const) {
      const t0 = performance.now()
      const rows = await fetchPage(b)
      out[side].push(performance.now() - t0)
      if (rows !== PAGE) throw new Error(`${side} page before ${b} had ${rows} messages, expected ${PAGE}`)
    }
  }
  return out
}

const round2 = (x: number) => Math.round(x * 100) / 100

const analyze = async (store: "postgres" | "pglite", target: { url?: string; dataDir?: string }) => {
  if (store === "postgres") {
    const sql = postgres(target.url!, { max: 1, onnotice: () => {} })
    try {
      await sql.unsafe("ANALYZE")
    } finally {
      await sql.end({ timeout: 5 })
    }
  } else {
    const db = await PGlite.create({ dataDir: join(target.dataDir!, "pglite") })
    try {
      await db.exec("ANALYZE")
    } finally {
      await db.close()
    }
  }
}

const measure = async (
  store: "postgres" | "pglite",
  cfg: BenchConfig,
  target: { url?: string; dataDir?: string },
  pg: BenchPostgres | undefined,
  log: Log
): Promise<HistoryRun> => {
  const m = cfg.history.messages
  const room = await loadHistory(
    store === "postgres" ? { store, url: target.url! } : { store, dataDir: target.dataDir! },
    m,
    cfg.history.batch,
    // Progress only where loading takes minutes.
    (done) => (m >= 100_000 ? log(`  ${store}: loaded ${done}/${m}`) : undefined)
  )
  log(`  ${store}: ${m} messages in ${room.loadS} s`)
  // Statistics first, as autovacuum would give them a while after a bulk load: without them
  // the planner may pick a different plan for each side (a sort of every older row).
  await analyze(store, target)
  const befores = positions(room, cfg.history.queries)
  const server = await startOurs(
    store === "postgres" ? { store, postgresUrl: target.url! } : { store, dataDir: target.dataDir! },
    pg
  )
  let rest: Array<number>
  let raw: Array<number>
  if (store === "postgres") {
    // PostgreSQL: the raw query from its own connection, alternating with the REST pages.
    const sql = postgres(target.url!, { max: 1, onnotice: () => {} })
    const pages = await restPages(server, room)
    try {
      const times = await interleavedTimes(befores, pages.fetchPage, async (b) =>
        (await sql.unsafe(RAW_PAGE, [room.room, b, PAGE], { prepare: true })).length
      )
      rest = times.rest
      raw = times.raw
    } finally {
      pages.close()
      await sql.end({ timeout: 5 })
      await server.stop()
    }
  } else {
    // PGlite: one process may hold the directory, so the raw query runs once the server has stopped.
    try {
      rest = await restTimes(server, room, befores)
    } finally {
      await server.stop()
    }
    const db = await PGlite.create({ dataDir: join(target.dataDir!, "pglite") })
    try {
      raw = await timeAll(befores, async (b) => (await db.query(RAW_PAGE, [room.room, b, PAGE])).rows.length)
    } finally {
      await db.close()
    }
  }
  const restS = summarise(rest)
  const rawS = summarise(raw)
  log(`  ${store}: REST p50 ${restS.p50} p99 ${restS.p99} ms; raw SQL p50 ${rawS.p50} p99 ${rawS.p99} ms`)
  return {
    store,
    messages: m,
    loadS: room.loadS,
    loadRate: Math.round(m / room.loadS),
    queries: befores.length,
    rest: restS,
    raw: rawS,
    p99Ratio: rawS.p99 > 0 ? round2(restS.p99 / rawS.p99) : 0,
    ...(store === "postgres" ? { interleaved: true } : {})
  }
}

export const runHistory = async (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<HistoryResult> => {
  const runs: Array<HistoryRun> = []
  let pgliteDir: string | undefined
  let postgresUrl: string | undefined
  for (const store of cfg.history.stores) {
    log(`[history] ${store}: ${cfg.history.messages} messages, ${cfg.history.queries} pages of ${PAGE}`)
    try {
      if (store === "postgres") {
        if (pg === undefined) throw new Error("needs PostgreSQL")
        postgresUrl = await pg.createDatabase("bench_history")
        runs.push(await measure(store, cfg, { url: postgresUrl }, pg, log))
      } else {
        pgliteDir = mkdtempSync(join(tmpdir(), "chat-bench-history-"))
        runs.push(await measure(store, cfg, { dataDir: pgliteDir }, pg, log))
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      log(`  ${store}: failed: ${message.slice(0, 500)}`)
      runs.push({ store, messages: cfg.history.messages, error: message.slice(0, 2000) })
      if (store === "pglite" && pgliteDir !== undefined) {
        rmSync(pgliteDir, { recursive: true, force: true })
        pgliteDir = undefined
      }
      if (store === "postgres") postgresUrl = undefined
    }
  }
  return {
    runs,
    data: {
      messages: cfg.history.messages,
      ...(pgliteDir !== undefined ? { pgliteDir } : {}),
      ...(postgresUrl !== undefined ? { postgresUrl } : {})
    }
  }
}
