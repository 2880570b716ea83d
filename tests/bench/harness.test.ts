/**
 * The bench harness end to end at a tiny size: our node (PostgreSQL, a fresh database on
 * the test run's server), the raw ws peer and the lean peer (another fresh database), each
 * as a child process, two client processes, one low-rate step. Not timed and not asserting
 * performance: it checks that every field of the report is there and that nothing is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt } from "../../bench/lib/build.ts"
import { renderChart } from "../../bench/report/chart.ts"
import { renderMarkdown } from "../../bench/report/markdown.ts"
import type { BenchResults } from "../../bench/report/results.ts"
import { computeTargets } from "../../bench/report/targets.ts"
import { parseConfig, type BenchConfig } from "../../bench/config.ts"
import { stopDiskProbe } from "../../bench/lib/diskProbe.ts"
import { machineFacts } from "../../bench/lib/machine.ts"
import { dropDatabase, freshDatabase } from "../support/freshDatabase.ts"
import { runOnServer, type LoadParams, type ServerRun, type StepReport } from "../../bench/scenarios/stepped.ts"

const tiny: LoadParams = {
  rooms: 2,
  roomSize: 3,
  senders: 2,
  rates: [10],
  limitOn: "e2e",
  // Latency is not under test here; a loaded CI machine must not fail the step.
  limitMs: 60_000,
  // Nor must the other test files running beside this one: they are the "outside" work that
  // would mark the step's machine busy (and run it once more), and this test checks fields,
  // not figures.
  outsidePct: 100,
  stealPct: 100,
  stepMs: 500,
  drainMs: 20_000,
  warmupMs: 0,
  clientProcesses: 2,
  bodyBytes: 64
}

const isNumber = (v: unknown) => typeof v === "number" && Number.isFinite(v)

const expectLatency = (l: StepReport["e2e"] | null) => {
  expect(l).not.toBeNull()
  for (const k of ["count", "p50", "p90", "p99", "max", "mean"] as const) expect(isNumber(l![k]), k).toBe(true)
  expect(l!.count).toBeGreaterThan(0)
  expect(l!.p50).toBeLessThanOrEqual(l!.p99)
  expect(l!.p99).toBeLessThanOrEqual(l!.max)
}

const expectComplete = (run: ServerRun, acks: boolean, clientProcesses = 2) => {
  expect(run.error).toBeUndefined()
  expect(run.setup).toEqual({ connections: 6, failedConnections: 0, connectMs: expect.any(Number), clientProcesses })
  expect(run.rssStartMB).toBeGreaterThan(0)
  expect(run.rssIdleMB).toBeGreaterThan(0)
  expect(run.steps).toHaveLength(1)
  const s = run.steps[0]
  // 10 msg/s for 0.5 s from 2 senders in rooms of 3: 5 messages, 15 deliveries.
  expect(s.sent).toBe(5)
  expect(s.expectedDeliveries).toBe(15)
  expect(s.received).toBe(15)
  expect(s.lost).toBe(0)
  expect(s.loss).toBe(0)
  expect(s.errors).toEqual({})
  expect(s.disconnects).toBe(0)
  for (const k of ["targetRate", "sentRate", "windowS", "deliveriesPerS"] as const) expect(isNumber(s[k]), k).toBe(true)
  expectLatency(s.e2e)
  if (acks) {
    expectLatency(s.ack)
    expect(s.acked).toBe(5)
    expect(isNumber(s.ackedPerS)).toBe(true)
  } else {
    // The raw ws protocol has no acks.
    expect(s.ack).toBeNull()
    expect(s.acked).toBeNull()
  }
  expect(isNumber(s.server.cpuPct)).toBe(true)
  expect(s.server.rssPeakMB).toBeGreaterThan(0)
  expect(s.clients.elu).toHaveLength(clientProcesses)
  for (const e of s.clients.elu) expect(e >= 0 && e <= 1).toBe(true)
  // The disk probe timed flushes through the step (bench/lib/diskProbe.ts).
  expect(s.machine?.diskSync?.samples).toBeGreaterThan(0)
  expect(s.held).toBe(true)
  expect(run.best).toBe(s)
}

describe("bench harness", () => {
  // The bench measures compiled JS (dist/ and bench/.build/): build them once, as bench/main.ts does.
  beforeAll(() => ensureBuilt(), 600_000)
  afterAll(() => stopDiskProbe())

  it("runs a tiny fan-out end to end against our server and every peer (Socket.IO + INSERT with the senders in a process of their own) and reports every field", async () => {
    const noLog = () => {}
    const databases: Array<string> = []
    const db = { createDatabase: async () => databases[databases.push(await freshDatabase()) - 1] }
    const [ours, raw, lean, sio, sioPg] = await Promise.all([
      // Profiled (--profile): only our node is, and the run carries where its time went.
      runOnServer("ours-postgres", "harness", { ...tiny, profile: true }, db, noLog),
      runOnServer("rawws", "harness", tiny, undefined, noLog),
      // The lean fixture (bench/peers/leanPg.ts) speaks our protocol: acked and delivered alike.
      runOnServer("lean-pg", "harness", tiny, db, noLog),
      // Socket.IO's protocol as bench/client/adapters.ts speaks it: deliveries, and acks after the INSERT.
      runOnServer("socketio", "harness", tiny, undefined, noLog),
      runOnServer("socketio-pg", "harness", { ...tiny, senderProcess: true }, db, noLog)
    ]).finally(() => Promise.all(databases.map(dropDatabase)))
    expectComplete(ours, true)
    expectComplete(raw, false)
    expectComplete(lean, true)
    expectComplete(sio, true)
    expectComplete(sioPg, true, 3)
    expect(ours.profile?.seconds).toBeGreaterThan(0)
    expect(ours.profile?.areas.map((a) => a.name)).toContain("effect")
    expect(ours.profile?.functions.length).toBeGreaterThan(0)
    expect(raw.profile).toBeUndefined()

    // The report is generated from the same structure.
    const cfg = parseConfig(["--only", "fanout", "--markdown", ""]) as BenchConfig
    const fanout = { params: tiny, runs: [ours, raw] }
    const results: BenchResults = {
      version: 1,
      mode: "quick",
      command: "test",
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      durationS: 0,
      scenarioDurationsS: { fanout: 0 },
      machine: machineFacts(),
      postgres: null,
      config: cfg,
      scenarios: { fanout },
      targets: computeTargets({ fanout }),
      errors: []
    }
    // Both delivered every message at the same rate, so the ratio is about 1; exactly the two
    // runs' deliveries/s divided (each is counted over its own measured window, so under load
    // they may differ in the last digit).
    // A ratio comes only from trusted runs (not client-limited, machine not busy with other
    // work): a test machine may be busy, so which of the two holds depends on the moment.
    const ratio = results.targets.find((t) => t.id === "fanout-vs-rawws")?.value
    if (ours.trusted === false || raw.trusted === false) {
      expect(ratio).toBeNull()
    } else {
      expect(ratio).toBe(Math.round((ours.best!.deliveriesPerS / raw.best!.deliveriesPerS) * 100) / 100)
      expect(ratio).toBeGreaterThan(0.9)
      expect(ratio).toBeLessThan(1.1)
    }
    const md = renderMarkdown(results, { json: "bench/results/test.json", charts: { fanout: "bench/results/test.svg" } })
    expect(md).toContain("this project (PostgreSQL)")
    expect(md).toContain("raw ws")
    expect(md).toContain("where this project (PostgreSQL) spent its time")
    const svg = renderChart(fanout, { title: "t", x: "deliveriesPerS", xLabel: "x", y: "e2e", yLabel: "y", limitMs: 100 })
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg).toContain("<polyline")
  }, 120_000)
})
