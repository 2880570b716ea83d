/**
 * The embedded default's two targets (issue 12), judged from the cold start scenario's
 * results: first start to healthy <= 3 s and idle RSS one minute after start <= 250 MB, each
 * on the median of the empty-PGlite starts; and the report's cold start table shows the RSS.
 */
import { describe, expect, it } from "vitest"
import { EMBEDDED_CASE, type ColdStartResult } from "../../bench/scenarios/coldstart.ts"
import { computeTargets } from "../../bench/report/targets.ts"

const coldstart = (startsMs: Array<number>, rssIdleMb?: Array<number>): ColdStartResult => ({
  cases: [
    {
      name: EMBEDDED_CASE,
      store: "pglite",
      messages: 0,
      startsMs,
      summary: { count: startsMs.length, p50: [...startsMs].sort((a, b) => a - b)[startsMs.length >> 1]!, p90: 0, p99: 0, max: Math.max(...startsMs), mean: 0 },
      ...(rssIdleMb !== undefined ? { idleMs: 60_000, rssHealthyMb: rssIdleMb.map((x) => x + 10), rssIdleMb } : {})
    },
    // Another case never counts for the embedded targets.
    { name: "PostgreSQL, empty database", store: "postgres", messages: 0, startsMs: [100], summary: { count: 1, p50: 100, p90: 100, p99: 100, max: 100, mean: 100 } }
  ]
})

const target = (c: ColdStartResult, id: string) => computeTargets({ coldstart: c }).find((t) => t.id === id)!

describe("the embedded default's targets", () => {
  it("judges the first start on the median of the empty-PGlite starts, in seconds", () => {
    const met = target(coldstart([2400, 2900, 3400]), "first-start")
    expect(met).toMatchObject({ value: 2.9, threshold: 3, kind: "max", met: true })
    expect(met.measured).toBe("2900 ms (median of 3, 2400–3400)")
    expect(target(coldstart([3100, 2900, 3400]), "first-start")).toMatchObject({ value: 3.1, met: false })
  })

  it("judges the idle RSS on the median after the idle minute", () => {
    const met = target(coldstart([2000, 2000, 2000], [240, 199.5, 260]), "embedded-idle-rss")
    expect(met).toMatchObject({ value: 240, threshold: 250, met: true })
    expect(met.measured).toBe("240 MB (median of 3, 199.5–260) after 60 s idle")
    expect(target(coldstart([2000, 2000], [251, 260]), "embedded-idle-rss")).toMatchObject({ value: 255.5, met: false })
  })

  it("reports not measured, never met, when the case did not run or kept no RSS", () => {
    expect(target(coldstart([2000]), "embedded-idle-rss")).toMatchObject({ value: null, met: null, measured: "not measured" })
    const none: ColdStartResult = { cases: [{ name: EMBEDDED_CASE, store: "pglite", messages: 0, startsMs: [], error: "spawn failed" }] }
    expect(target(none, "first-start")).toMatchObject({ value: null, met: null })
    expect(target(none, "embedded-idle-rss")).toMatchObject({ value: null, met: null })
  })
})
