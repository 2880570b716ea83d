/**
 * The issue's targets, each computed from a run's results: the measured value, the ratio
 * it is judged on, and whether it was met (null when a side of the comparison is missing).
 */
import { EMBEDDED_CASE, type ColdStartResult } from "../scenarios/coldstart.ts"
import type { IdleResult } from "../scenarios/idle.ts"
import type { HistoryRun } from "../scenarios/history.ts"
import type { LoadResult } from "../scenarios/load.ts"
import type { ServerName } from "../lib/servers.ts"
import { aggregate, fixedCells, idleMedian, median } from "./aggregate.ts"

export interface Target {
  readonly id: string
  readonly description: string
  /** What was compared, in words with numbers. */
  readonly measured: string
  readonly value: number | null
  readonly threshold: number
  /** "min": value must be at least threshold; "max": at most. */
  readonly kind: "min" | "max"
  readonly met: boolean | null
}

const r2 = (x: number) => Math.round(x * 100) / 100

/**
 * The median over the server's trusted runs (report/aggregate.ts) of the metric at its best
 * step; null when the server did not run or no run of it was trusted (client-limited, busy
 * machine), so no ratio is computed from such a run.
 */
const best = (load: LoadResult | undefined, server: ServerName, metric: "deliveriesPerS" | "ackedPerS"): number | null =>
  load === undefined || !load.runs.some((r) => r.server === server) ? null : aggregate(load, server, (s) => s[metric]).median

const judge = (id: string, description: string, measured: string, value: number | null, threshold: number, kind: "min" | "max"): Target => ({
  id,
  description,
  measured,
  value: value === null || !Number.isFinite(value) ? null : r2(value),
  threshold,
  kind,
  met: value === null || !Number.isFinite(value) ? null : kind === "min" ? value >= threshold : value <= threshold
})

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b)

export const computeTargets = (s: {
  fanout?: LoadResult
  persist?: LoadResult
  fixed?: LoadResult
  idle?: IdleResult
  history?: { runs: ReadonlyArray<HistoryRun> }
  coldstart?: ColdStartResult
}): Array<Target> => {
  const out: Array<Target> = []
  if (s.fanout !== undefined) {
    const ours = best(s.fanout, "ours-postgres", "deliveriesPerS")
    const raw = best(s.fanout, "rawws", "deliveriesPerS")
    const sio = best(s.fanout, "socketio", "deliveriesPerS")
    out.push(judge("fanout-vs-rawws", "fan-out: ours (PostgreSQL) >= 0.8x raw ws (deliveries/s at the highest step that held)", `${ours} vs ${raw} deliveries/s`, ratio(ours, raw), 0.8, "min"))
    out.push(judge("fanout-vs-socketio", "fan-out: ours (PostgreSQL) >= 1.5x Socket.IO", `${ours} vs ${sio} deliveries/s`, ratio(ours, sio), 1.5, "min"))
  }
  if (s.persist !== undefined) {
    const ours = best(s.persist, "ours-postgres", "ackedPerS")
    const sioPg = best(s.persist, "socketio-pg", "ackedPerS")
    out.push(judge("persist-absolute", "persisted throughput on PostgreSQL >= 20,000 acked msg/s (p99 ack <= 50 ms)", `${ours} acked msg/s`, ours, 20_000, "min"))
    out.push(judge("persist-vs-socketio-pg", "persisted throughput on PostgreSQL >= 3x Socket.IO + INSERT", `${ours} vs ${sioPg} acked msg/s`, ratio(ours, sioPg), 3, "min"))
  }
  if (s.fixed !== undefined) {
    // At 1,000 msg/s when the table has it, else at its highest rate.
    const cells = fixedCells(s.fixed).filter((c) => c.server === "ours-postgres")
    const cell = cells.find((c) => c.rate === 1000) ?? cells.at(-1)
    // The lean fixture at the same rate, when it ran: what the design the target came from costs here.
    const lean = cell === undefined ? undefined : fixedCells(s.fixed).find((c) => c.server === "lean-pg" && c.rate === cell.rate)
    out.push(
      judge(
        "cpu-per-message",
        "node CPU per persisted message (fixed rate, rooms of 2, PostgreSQL, encrypted, acked, delivered) <= 150 µs",
        cell === undefined
          ? "not measured"
          : `${cell.usPerMsg} µs at ${cell.rate} msg/s (median of ${cell.runs}${cell.untrusted > 0 ? `; ${cell.untrusted} of them client-limited or on a busy machine` : ""})` +
            (lean?.usPerMsg != null ? `; the lean fixture (lean-pg) ${lean.usPerMsg} µs` : ""),
        cell?.usPerMsg ?? null,
        150,
        "max"
      )
    )
  }
  if (s.idle !== undefined) {
    // The largest connection count measured for both; medians over the runs at it.
    const ks = [...new Set(s.idle.runs.map((r) => r.requested))].sort((a, b) => b - a)
    const k = ks.find((k) => idleMedian(s.idle!, "ours-postgres", k) !== undefined && idleMedian(s.idle!, "rawws", k) !== undefined)
    const ours = k === undefined ? undefined : idleMedian(s.idle, "ours-postgres", k)
    const raw = k === undefined ? undefined : idleMedian(s.idle, "rawws", k)
    const spread = (m: NonNullable<typeof ours>) => (m.runs > 1 ? ` (median of ${m.runs}, ${m.min}–${m.max})` : "")
    // Beside it, not judged: the JS heap a connection keeps (steadier than RSS from run to run).
    const oursHeap = k === undefined ? undefined : idleMedian(s.idle, "ours-postgres", k, "perConnectionHeapKB")
    const rawHeap = k === undefined ? undefined : idleMedian(s.idle, "rawws", k, "perConnectionHeapKB")
    const heapRatio = ratio(oursHeap?.median ?? null, rawHeap?.median ?? null)
    out.push(
      judge(
        "idle-memory",
        "memory per idle connection <= 1.2x raw ws",
        k === undefined
          ? "not measured for both"
          : `${ours!.median}${spread(ours!)} vs ${raw!.median}${spread(raw!)} KB per connection at ${k} (RSS)` +
              (heapRatio !== null ? `; JS heap ${oursHeap!.median} vs ${rawHeap!.median} KB, ${heapRatio.toFixed(2)}x` : ""),
        ratio(ours?.median ?? null, raw?.median ?? null),
        1.2,
        "max"
      )
    )
  }
  if (s.history !== undefined) {
    const run = s.history.runs.find((r) => r.store === "postgres" && r.rest !== undefined)
    out.push(
      judge(
        "history-p99",
        "history page p99 (REST, PostgreSQL) <= 1.5x the raw SQL query",
        run === undefined ? "not measured" : `${run.rest!.p99} vs ${run.raw!.p99} ms`,
        run?.p99Ratio ?? null,
        1.5,
        "max"
      )
    )
  }
  if (s.coldstart !== undefined) {
    const c = s.coldstart.cases.find((k) => k.name === EMBEDDED_CASE && k.error === undefined)
    const range = (xs: ReadonlyArray<number>) => (xs.length > 1 ? ` (median of ${xs.length}, ${Math.min(...xs)}–${Math.max(...xs)})` : "")
    const startMs = c?.summary?.p50 ?? null
    out.push(
      judge(
        "first-start",
        "embedded default: first start on an empty data dir to healthy <= 3 s",
        c === undefined ? "not measured" : `${startMs} ms${range(c.startsMs)}`,
        startMs === null ? null : startMs / 1000,
        3,
        "max"
      )
    )
    const idle = median(c?.rssIdleMb ?? [])
    out.push(
      judge(
        "embedded-idle-rss",
        "embedded default: RSS idle, one minute after start (empty data dir) <= 250 MB",
        idle === null ? "not measured" : `${idle} MB${range(c!.rssIdleMb!)} after ${c!.idleMs! / 1000} s idle`,
        idle,
        250,
        "max"
      )
    )
  }
  return out
}

