/** bench/report/aggregate.ts and the Zipf weights: medians over trusted runs only, ratios never from an untrusted run. */
import { describe, expect, it } from "vitest"
import { acked, aggregate, fixedCells, idleMedian, median, ratioOfMedians } from "../../bench/report/aggregate.ts"
import type { IdleResult } from "../../bench/scenarios/idle.ts"
import { zipfWeights } from "../../bench/scenarios/load.ts"
import type { LoadResult } from "../../bench/scenarios/load.ts"
import type { ServerRun, StepReport } from "../../bench/scenarios/stepped.ts"

const lat = { count: 1, p50: 1, p90: 2, p99: 3, p999: 4, max: 5, mean: 1 }

const step = (rate: number, over: Partial<StepReport> = {}): StepReport => ({
  step: 1,
  targetRate: rate,
  sent: rate,
  sentRate: rate,
  windowS: 1,
  expectedDeliveries: rate,
  received: rate,
  lost: 0,
  loss: 0,
  deliveriesPerS: rate,
  acked: rate,
  ackedPerS: rate,
  e2e: lat,
  ack: lat,
  errors: {},
  disconnects: 0,
  duplicates: 0,
  reordered: 0,
  server: { cpuPct: 10, rssPeakMB: 50, usPerMsg: 100 },
  db: null,
  clients: { elu: [0.1], eluMax: 0.1 },
  clientLimited: false,
  held: true,
  failedBecause: [],
  ...over
})

const run = (server: ServerRun["server"], best: number, trusted = true): ServerRun => ({
  server,
  steps: [step(best)],
  best: step(best),
  stoppedBecause: "p99",
  trusted,
  ...(trusted ? {} : { untrustedBecause: "stopped on a client-limited step" })
})

const load = (runs: Array<ServerRun>): LoadResult => ({
  params: { rooms: 1, roomSize: 2, senders: 2, rates: [100, 200], limitOn: "ack", limitMs: 50, stepMs: 1000, drainMs: 1000, warmupMs: 0, clientProcesses: 1, bodyBytes: 100 },
  runs
})

describe("bench aggregate", () => {
  it("bench aggregate - median of odd and even counts, null for none", () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBeNull()
  })

  it("bench aggregate - a run whose failed step was taken during a disk stall is left out, unless that step was run again", () => {
    const stalled = (retried: boolean): ServerRun => ({
      server: "ours-postgres",
      steps: [step(100), step(200, { held: false, diskStalled: true, failedBecause: ["p99 ack 90 ms > 50 ms"], ...(retried ? { retried } : {}) }), ...(retried ? [step(200)] : [])],
      best: retried ? step(200) : step(100),
      stoppedBecause: "p99",
      // Marked trusted when written (before the rule): the steps decide.
      trusted: true
    })
    const out = aggregate(load([stalled(false), run("ours-postgres", 400)]), "ours-postgres", acked)
    expect(out).toMatchObject({ runs: 2, trusted: 1, values: [400], untrustedBecause: ["a step that failed did so during a disk stall"] })
    // Run again after the stall (and held): the second result counts, the run stays in.
    expect(aggregate(load([stalled(true)]), "ours-postgres", acked)).toMatchObject({ trusted: 1, values: [200], untrustedBecause: [] })
  })

  it("bench aggregate - median and range come from trusted runs only", () => {
    const a = aggregate(load([run("ours-postgres", 100), run("ours-postgres", 900, false), run("ours-postgres", 300)]), "ours-postgres", acked)
    expect(a).toMatchObject({ runs: 3, trusted: 2, median: 200, min: 100, max: 300 })
    expect(a.untrustedBecause).toEqual(["stopped on a client-limited step"])
  })

  it("bench aggregate - no ratio when a side has no trusted run", () => {
    const l = load([run("ours-postgres", 100), run("socketio-pg", 400, false)])
    expect(ratioOfMedians(aggregate(l, "ours-postgres", acked), aggregate(l, "socketio-pg", acked))).toBeNull()
    const l2 = load([run("ours-postgres", 100), run("socketio-pg", 400)])
    expect(ratioOfMedians(aggregate(l2, "ours-postgres", acked), aggregate(l2, "socketio-pg", acked))).toBe(0.25)
  })

  it("bench aggregate - fixed-rate cells count client-limited and busy steps as untrusted", () => {
    const r: ServerRun = { server: "ours-postgres", steps: [step(100), step(200, { clientLimited: true, server: { cpuPct: 1, rssPeakMB: 1, usPerMsg: 300 } })], best: null, stoppedBecause: "" }
    const cells = fixedCells(load([r]))
    expect(cells.map((c) => [c.rate, c.usPerMsg, c.untrusted])).toEqual([
      [100, 100, 0],
      [200, 300, 1]
    ])
  })

  it("bench aggregate - idle connections: the median KB of a server's runs at a count, failed runs left out", () => {
    const result: IdleResult = {
      roomSize: 100,
      fdLimit: 20_000,
      runs: [
        { server: "ours-postgres", requested: 10_000, repeat: 1, perConnectionKB: 9.39, perConnectionHeapKB: 4.05 },
        { server: "rawws", requested: 10_000, repeat: 1, perConnectionKB: 6.91, perConnectionHeapKB: 3.54 },
        { server: "ours-postgres", requested: 10_000, repeat: 2, perConnectionKB: 7.54, perConnectionHeapKB: 4.07 },
        { server: "rawws", requested: 10_000, repeat: 2, perConnectionKB: 6.95 },
        { server: "ours-postgres", requested: 10_000, repeat: 3, perConnectionKB: 8.7 },
        { server: "rawws", requested: 10_000, repeat: 3, perConnectionKB: 1, error: "connections failed" },
        { server: "ours-postgres", requested: 100_000, skipped: "needs an open-file limit" }
      ]
    }
    expect(idleMedian(result, "ours-postgres", 10_000)).toEqual({ median: 8.7, min: 7.54, max: 9.39, runs: 3 })
    expect(idleMedian(result, "rawws", 10_000)).toEqual({ median: 6.93, min: 6.91, max: 6.95, runs: 2 })
    expect(idleMedian(result, "ours-postgres", 100_000)).toBeUndefined()
    // The JS heap figure: only the runs that have it.
    expect(idleMedian(result, "ours-postgres", 10_000, "perConnectionHeapKB")).toEqual({ median: 4.06, min: 4.05, max: 4.07, runs: 2 })
    expect(idleMedian(result, "rawws", 10_000, "perConnectionHeapKB")).toEqual({ median: 3.54, min: 3.54, max: 3.54, runs: 1 })
  })

  it("bench aggregate - Zipf weights average 1 and fall as 1/rank^s", () => {
    const w = zipfWeights(1000, 1)
    expect(w.reduce((a, b) => a + b, 0) / w.length).toBeCloseTo(1, 9)
    expect(w[0] / w[1]).toBeCloseTo(2, 9)
    expect(w[0] / w[9]).toBeCloseTo(10, 9)
  })
})
