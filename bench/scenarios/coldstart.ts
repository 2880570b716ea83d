/**
 * Scenario 5, cold start: from spawning the node to the first 200 from GET /healthz (the
 * node answers only once its store is open and migrated), polled every 20 ms. The empty
 * PGlite case is a bare `npm start` (secrets generated into the new data dir); the others
 * start on the history scenario's data (loaded here when that scenario did not run).
 *
 * The empty PGlite case is also the embedded default's memory figure (issue 12: idle RSS one
 * minute after start <= 250 MB): after each of its starts the node is left idle for
 * `idleMs` (full: 60 s) and its VmRSS is read at healthy and at the end of that wait. The
 * embedded store runs inside the node process (WASM), so that process's RSS is all of it.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as delay } from "node:timers/promises"
import type { BenchConfig } from "../config.ts"
import { freePort, stopChild } from "../lib/children.ts"
import { summarise, type LatencySummary } from "../lib/histogram.ts"
import type { BenchPostgres } from "../lib/postgres.ts"
import { mb, rssBytes } from "../lib/procstat.ts"
import { spawnOurs, waitHealthy, type OursOptions } from "../lib/servers.ts"
import type { HistoryData } from "./history.ts"
import { loadHistory } from "./historyData.ts"
import type { Log } from "./stepped.ts"

export interface ColdStartCase {
  readonly name: string
  readonly store: "pglite" | "postgres"
  readonly messages: number
  readonly error?: string
  /** Each start, ms. */
  readonly startsMs: ReadonlyArray<number>
  readonly summary?: LatencySummary
  /** Cases measured idle: each start's VmRSS in MB at healthy and `idleMs` later. */
  readonly idleMs?: number
  readonly rssHealthyMb?: ReadonlyArray<number>
  readonly rssIdleMb?: ReadonlyArray<number>
}

export interface ColdStartResult {
  readonly cases: ReadonlyArray<ColdStartCase>
}

interface Start {
  readonly ms: number
  readonly rssHealthyMb?: number
  readonly rssIdleMb?: number
}

/** One start: spawn to healthy; with `idleMs`, also its RSS at healthy and after that idle wait. */
/** The case the embedded default's targets (first start, idle RSS) are judged on. */
export const EMBEDDED_CASE = "PGlite, empty data dir (npm start)"

const timeStart = async (options: OursOptions, idleMs: number | undefined): Promise<Start> => {
  const port = await freePort()
  const t0 = performance.now()
  const { child, dataDir, output } = spawnOurs(options, port)
  try {
    await waitHealthy(child, `http://127.0.0.1:${port}`, 120_000, output)
    const ms = Math.round((performance.now() - t0) * 10) / 10
    if (idleMs === undefined) return { ms }
    const rssHealthyMb = mb(rssBytes(child.pid!))
    await delay(idleMs)
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the node exited while idle: ${output().slice(-500)}`)
    return { ms, rssHealthyMb, rssIdleMb: mb(rssBytes(child.pid!)) }
  } finally {
    await stopChild(child)
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
  }
}

export const runColdStart = async (
  cfg: BenchConfig,
  pg: BenchPostgres | undefined,
  prepared: HistoryData | undefined,
  log: Log
): Promise<ColdStartResult> => {
  const cleanups: Array<() => void> = []
  const messages = prepared?.messages ?? cfg.history.messages
  let pgliteDir = prepared?.pgliteDir
  let postgresUrl = prepared?.postgresUrl
  const cases: Array<ColdStartCase> = []
  const run = async (name: string, store: "pglite" | "postgres", n: number, options: () => Promise<OursOptions>, idleMs?: number) => {
    log(`[coldstart] ${name}${idleMs !== undefined ? `, then ${idleMs / 1000} s idle` : ""}`)
    const startsMs: Array<number> = []
    const rssHealthyMb: Array<number> = []
    const rssIdleMb: Array<number> = []
    try {
      for (let i = 0; i < cfg.coldstart.repeats; i++) {
        const start = await timeStart(await options(), idleMs)
        startsMs.push(start.ms)
        if (start.rssHealthyMb !== undefined) rssHealthyMb.push(start.rssHealthyMb)
        if (start.rssIdleMb !== undefined) rssIdleMb.push(start.rssIdleMb)
      }
      log(`  ${startsMs.join(", ")} ms${idleMs !== undefined ? `; RSS at healthy ${rssHealthyMb.join(", ")} MB, idle ${rssIdleMb.join(", ")} MB` : ""}`)
      cases.push({
        name,
        store,
        messages: n,
        startsMs,
        summary: summarise(startsMs),
        ...(idleMs !== undefined ? { idleMs, rssHealthyMb, rssIdleMb } : {})
      })
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      log(`  failed: ${message.slice(0, 500)}`)
      cases.push({ name, store, messages: n, startsMs, error: message.slice(0, 2000) })
    }
  }
  try {
    if (cfg.coldstart.stores.includes("pglite")) {
      await run(EMBEDDED_CASE, "pglite", 0, async () => ({ store: "pglite", generatedSecrets: true }), cfg.coldstart.idleMs > 0 ? cfg.coldstart.idleMs : undefined)
      if (pgliteDir === undefined) {
        const dir = mkdtempSync(join(tmpdir(), "chat-bench-cold-"))
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
        log(`[coldstart] loading ${messages} messages into PGlite`)
        await loadHistory({ store: "pglite", dataDir: dir }, messages, cfg.history.batch, () => {})
        pgliteDir = dir
      }
      await run(`PGlite, ${messages} messages`, "pglite", messages, async () => ({ store: "pglite", dataDir: pgliteDir! }))
    }
    if (cfg.coldstart.stores.includes("postgres")) {
      if (pg === undefined) throw new Error("PostgreSQL cold start needs PostgreSQL")
      let k = 0
      await run("PostgreSQL, empty database", "postgres", 0, async () => ({
        store: "postgres",
        postgresUrl: await pg.createDatabase(`bench_cold_empty_${k++}`)
      }))
      if (postgresUrl === undefined) {
        postgresUrl = await pg.createDatabase("bench_cold_history")
        log(`[coldstart] loading ${messages} messages into PostgreSQL`)
        await loadHistory({ store: "postgres", url: postgresUrl }, messages, cfg.history.batch, () => {})
      }
      await run(`PostgreSQL, ${messages} messages`, "postgres", messages, async () => ({ store: "postgres", postgresUrl: postgresUrl! }))
    }
  } finally {
    for (const f of cleanups) f()
  }
  return { cases }
}
