/**
 * Scenario 3, idle connections: K connections, each authenticated (ours) and subscribed to
 * one room of 100, doing nothing. Memory per connection is the server's RSS growth from
 * "rooms exist, nobody connected" to "everybody connected", divided by K.
 *
 * Past one ephemeral port range per (source, destination) pair, connections come from
 * further loopback source addresses (127.0.0.2, ...). Each socket costs a file descriptor
 * on the server: a K the open-file limit cannot hold is reported as skipped, with the limit.
 */
import { setTimeout as delay } from "node:timers/promises"
import type { BenchConfig } from "../config.ts"
import { startClients } from "../lib/clients.ts"
import { fdLimit } from "../lib/machine.ts"
import type { BenchPostgres } from "../lib/postgres.ts"
import { readHeapUsed, removeHeapUsed } from "../lib/heapUsed.ts"
import { mb, rssBytes } from "../lib/procstat.ts"
import { planRooms } from "../lib/rooms.ts"
import { startServer, type RunningServer, type ServerName } from "../lib/servers.ts"
import type { Log } from "./stepped.ts"

/** Connections per source address: below the default 28,232 ports, leaving room for everyone else. */
const PER_SOURCE_ADDRESS = 20_000
/** Descriptors a process needs besides its sockets (files, pipes, database pool, ...). */
const FD_HEADROOM = 512

export interface IdleRun {
  readonly server: ServerName
  readonly requested: number
  /** 1-based, when each server ran more than once at this count. */
  readonly repeat?: number
  readonly skipped?: string
  readonly error?: string
  readonly connections?: number
  readonly failedConnections?: number
  readonly clientProcesses?: number
  readonly sourceAddresses?: number
  readonly connectS?: number
  readonly rssStartMB?: number
  /** Rooms created, no connection open. */
  readonly rssBeforeMB?: number
  /** Every connection open and subscribed, then a full GC (median of 5 samples over a second). */
  readonly rssAfterMB?: number
  /** From rssAfterMB: what a connection keeps once the garbage of connecting is collected. The target uses this one. */
  readonly perConnectionKB?: number
  /** Without the GC, one second after the last connection (connect-time garbage mostly still on the heap). */
  readonly perConnectionKBAt1s?: number
  /** The JS heap in use after the same full GCs (process.memoryUsage().heapUsed), before and after connecting. */
  readonly heapBeforeMB?: number
  readonly heapAfterMB?: number
  /**
   * From the heap figures: the JavaScript objects a connection keeps, without native memory
   * and without pages the allocators keep but do not use (which make the RSS figure swing).
   */
  readonly perConnectionHeapKB?: number
}

export interface IdleResult {
  readonly roomSize: number
  readonly fdLimit: number
  readonly runs: ReadonlyArray<IdleRun>
}

const settledRss = async (pid: number): Promise<number> => {
  const samples: Array<number> = []
  for (let i = 0; i < 5; i++) {
    await delay(200)
    samples.push(rssBytes(pid))
  }
  return samples.sort((a, b) => a - b)[2]
}

/**
 * Full GC in the server (it was started with gcOnSignal), a moment for it, then the settled
 * RSS, and the heap in use the server wrote after that GC.
 */
const afterGc = async (pid: number): Promise<{ rss: number; heap: number | undefined }> => {
  process.kill(pid, "SIGUSR2")
  await delay(500)
  process.kill(pid, "SIGUSR2")
  const rss = await settledRss(pid)
  return { rss, heap: readHeapUsed(pid) }
}

const runOne = async (cfg: BenchConfig, name: ServerName, k: number, pg: BenchPostgres | undefined, log: Log): Promise<IdleRun> => {
  const limit = fdLimit()
  if (k + FD_HEADROOM > limit) {
    const skipped = `needs an open-file limit of at least ${k + FD_HEADROOM} (ulimit -n is ${limit}; raise the hard limit, see bench/README.md)`
    log(`  ${name} ${k}: skipped: ${skipped}`)
    return { server: name, requested: k, skipped }
  }
  let server: RunningServer | undefined
  try {
    server = await startServer(name, `idle${k}`, pg, { gcOnSignal: true })
    const rssStart = rssBytes(server.pid)
    const roomSize = Math.min(cfg.idle.roomSize, k)
    const rooms = Math.ceil(k / roomSize)
    const plan = await planRooms(server, {
      rooms,
      roomSize,
      senders: 0,
      prefix: `idle${k}.`,
      localAddressOf: (i) => (k > PER_SOURCE_ADDRESS ? `127.0.0.${1 + Math.floor(i / PER_SOURCE_ADDRESS)}` : undefined)
    })
    // The baseline after a full GC too: the garbage of creating the rooms must not count as
    // "before", or the later reading could even come out lower.
    const before = await afterGc(server.pid)
    const rssBefore = before.rss
    const processes = Math.max(cfg.clientProcesses, Math.ceil(plan.conns.length / (limit - FD_HEADROOM)))
    const t0 = performance.now()
    const pool = await startClients({
      processes,
      protocol: server.protocol,
      url: server.connectUrl,
      conns: plan.conns,
      bodyBytes: cfg.bodyBytes,
      connectConcurrency: 64,
      connectTimeoutMs: 30 * 60_000
    })
    try {
      const connectS = Math.round(performance.now() - t0) / 1000
      const connected = pool.ready.reduce((a, r) => a + r.connected, 0)
      const failed = pool.ready.reduce((a, r) => a + r.failed, 0)
      const perConnection = (rss: number, from = rssBefore) => (connected === 0 ? 0 : Math.round(((rss - from) / connected / 1024) * 100) / 100)
      const perConnectionKBAt1s = perConnection(await settledRss(server.pid))
      // What a connection keeps: read after a full GC in every server alike (SIGUSR2, see
      // bench/lib/gcOnSignal.ts), not the garbage of connecting (token checks, upgrade
      // requests, subscribe replies) that V8 would free whenever it next collects.
      const after = await afterGc(server.pid)
      const rssAfter = after.rss
      const perConnectionKB = perConnection(rssAfter)
      const heap =
        before.heap !== undefined && after.heap !== undefined
          ? { heapBeforeMB: mb(before.heap), heapAfterMB: mb(after.heap), perConnectionHeapKB: perConnection(after.heap, before.heap) }
          : {}
      log(
        `  ${name} ${connected} idle connections (${failed} failed): ${mb(rssBefore)} -> ${mb(rssAfter)} MB, ` +
          `${perConnectionKB} KB each after a full GC (${perConnectionKBAt1s} KB at 1 s without)` +
          (heap.perConnectionHeapKB !== undefined ? `; JS heap ${heap.heapBeforeMB} -> ${heap.heapAfterMB} MB, ${heap.perConnectionHeapKB} KB each` : "")
      )
      return {
        server: name,
        requested: k,
        connections: connected,
        failedConnections: failed,
        ...(failed > 0 ? { error: pool.ready.find((r) => r.firstError !== undefined)?.firstError ?? "connections failed" } : {}),
        clientProcesses: pool.size,
        sourceAddresses: Math.ceil(plan.conns.length / PER_SOURCE_ADDRESS),
        connectS,
        rssStartMB: mb(rssStart),
        rssBeforeMB: mb(rssBefore),
        rssAfterMB: mb(rssAfter),
        perConnectionKB,
        perConnectionKBAt1s,
        ...heap
      }
    } finally {
      await pool.close()
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    log(`  ${name} ${k}: failed: ${message.slice(0, 500)}`)
    return { server: name, requested: k, error: message.slice(0, 2000) }
  } finally {
    await server?.stop()
    if (server !== undefined) removeHeapUsed(server.pid)
  }
}

/**
 * Each server `repeats` times at each count, interleaved (A, B, A, B, ...): the RSS growth of
 * 10,000 connections varied by ~20 MB from one run to the next (1.08x to 1.36x raw `ws` on
 * unchanged code), so one run cannot decide a 1.2x target. A count skipped for the
 * open-file limit is tried once.
 */
export const runIdle = async (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<IdleResult> => {
  const runs: Array<IdleRun> = []
  const repeats = cfg.idle.repeats
  for (const k of cfg.idle.conns) {
    for (let r = 1; r <= repeats; r++) {
      for (const name of cfg.idle.servers) {
        log(`[idle] ${name}: ${k} connections${repeats > 1 ? ` (run ${r}/${repeats})` : ""}`)
        const run = await runOne(cfg, name, k, pg, log)
        runs.push(repeats > 1 ? { ...run, repeat: r } : run)
      }
      if (runs.at(-1)?.skipped !== undefined) break
    }
  }
  return { roomSize: cfg.idle.roomSize, fdLimit: fdLimit(), runs }
}
