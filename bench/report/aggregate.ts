/**
 * Medians and ranges over a server's repeated runs (issue 12: "each server at least 3
 * times, interleaved; report median and range"). Only trusted runs count (scenarios/stepped.ts:
 * not stopped by the client, not taken while the machine was busy), so a ratio is never
 * computed from a client-limited or invalid step.
 */
import type { LoadResult } from "../scenarios/load.ts"
import type { ServerRun, StepReport } from "../scenarios/stepped.ts"
import type { IdleResult } from "../scenarios/idle.ts"
import type { ServerName } from "../lib/servers.ts"

export interface ServerAggregate {
  readonly server: string
  readonly runs: number
  readonly trusted: number
  /** The metric at each trusted run's best step. */
  readonly values: ReadonlyArray<number>
  readonly median: number | null
  readonly min: number | null
  readonly max: number | null
  /** Why runs were left out, each distinct reason once. */
  readonly untrustedBecause: ReadonlyArray<string>
}

export const median = (xs: ReadonlyArray<number>): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * A step that bounded the run's result (failed, and not run again) failed while the disk
 * stalled: the limit it set may be the disk's, not the server's, so the run is left out of
 * medians and ratios, as one stopped on a busy machine.
 */
export const stoppedByDiskStall = (steps: ReadonlyArray<StepReport>): boolean =>
  steps.some((s) => !s.held && s.retried !== true && s.diskStalled === true)

/**
 * Results written before `trusted` existed count as trusted when they had a best step. A run
 * one of whose failed steps was taken during a disk stall is left out whatever it was marked
 * (results written before that rule: their steps say whether the disk stalled).
 */
const isTrusted = (r: ServerRun) => (r.trusted ?? (r.best !== null && r.error === undefined)) && !stoppedByDiskStall(r.steps)
const whyUntrusted = (r: ServerRun) =>
  r.untrustedBecause ?? r.error ?? (stoppedByDiskStall(r.steps) ? "a step that failed did so during a disk stall" : "untrusted")

export const servers = (load: LoadResult): Array<string> => [...new Set(load.runs.map((r) => r.server))]

export const aggregate = (load: LoadResult, server: string, metric: (s: StepReport) => number | null): ServerAggregate => {
  const runs = load.runs.filter((r) => r.server === server)
  const trusted = runs.filter(isTrusted)
  const values = trusted.map((r) => (r.best === null ? 0 : (metric(r.best) ?? 0)))
  return {
    server,
    runs: runs.length,
    trusted: trusted.length,
    values,
    median: median(values),
    min: values.length === 0 ? null : Math.min(...values),
    max: values.length === 0 ? null : Math.max(...values),
    untrustedBecause: [...new Set(runs.filter((r) => !isTrusted(r)).map(whyUntrusted))]
  }
}

export const deliveries = (s: StepReport) => s.deliveriesPerS
export const acked = (s: StepReport) => s.ackedPerS

/** Ratio of two medians; null when either side has no trusted run. */
export const ratioOfMedians = (a: ServerAggregate | undefined, b: ServerAggregate | undefined): number | null =>
  a?.median === null || a === undefined || b === undefined || b.median === null || b.median === 0 ? null : a.median / b.median

/** The fixed-rate table's cells: per server and rate, medians over the repeats. */
export interface FixedCell {
  readonly server: string
  readonly rate: number
  readonly runs: number
  readonly usPerMsg: number | null
  readonly dbUsPerMsg: number | null
  readonly ackP50: number | null
  readonly ackP99: number | null
  readonly ackP999: number | null
  readonly ackedPerS: number | null
  readonly lost: number
  readonly duplicates: number
  readonly reordered: number
  /** Steps at this rate that were client-limited or taken on a busy machine. */
  readonly untrusted: number
}

export const fixedCells = (load: LoadResult): Array<FixedCell> =>
  servers(load).flatMap((server) =>
    load.params.rates.map((rate) => {
      const steps = load.runs.filter((r) => r.server === server).flatMap((r) => r.steps.filter((s) => s.targetRate === rate && s.fine !== true && s.retried !== true))
      const med = (f: (s: StepReport) => number | null | undefined) => median(steps.map(f).filter((v): v is number => typeof v === "number"))
      return {
        server,
        rate,
        runs: steps.length,
        usPerMsg: med((s) => s.server.usPerMsg),
        dbUsPerMsg: med((s) => s.db?.usPerMsg),
        ackP50: med((s) => s.ack?.p50),
        ackP99: med((s) => s.ack?.p99),
        ackP999: med((s) => s.ack?.p999),
        ackedPerS: med((s) => s.ackedPerS),
        lost: steps.reduce((a, s) => a + s.lost, 0),
        duplicates: steps.reduce((a, s) => a + (s.duplicates ?? 0), 0),
        reordered: steps.reduce((a, s) => a + (s.reordered ?? 0), 0),
        untrusted: steps.filter((s) => s.clientLimited || s.machineBusy === true).length
      }
    })
  )

/**
 * The median KB per connection of a server's measured runs at `k`, with their range and
 * count: by RSS (what the target uses), or by JS heap.
 */
export const idleMedian = (
  result: IdleResult,
  server: ServerName,
  k: number,
  figure: "perConnectionKB" | "perConnectionHeapKB" = "perConnectionKB"
): { readonly median: number; readonly min: number; readonly max: number; readonly runs: number } | undefined => {
  const values = result.runs
    .filter((r) => r.server === server && r.requested === k && r[figure] !== undefined && r.error === undefined)
    .map((r) => r[figure]!)
    .sort((a, b) => a - b)
  if (values.length === 0) return undefined
  return { median: Math.round(median(values)! * 100) / 100, min: values[0]!, max: values.at(-1)!, runs: values.length }
}
