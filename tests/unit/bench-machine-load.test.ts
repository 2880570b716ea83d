/** bench/lib/machineLoad.ts: the readings that mark a bench step taken on a busy machine. */
import { describe, expect, it } from "vitest"
import { machineLoadWindow, parsePressureSomeAvg10, parsePressureSomeTotal, parseProcStat } from "../../bench/lib/machineLoad.ts"

describe("bench machine load", () => {
  it("bench machine load - /proc/stat: total leaves guest time out, idle includes iowait, irq is irq + softirq", () => {
    const text = "cpu  100 5 50 800 20 3 2 10 40 0\ncpu0 50 2 25 400 10 1 1 5 20 0\nintr 1 2\n"
    expect(parseProcStat(text)).toEqual({ total: 990, idle: 820, steal: 10, irq: 5 })
  })

  it("bench machine load - /proc/pressure/cpu: the some line's total, none without PSI", () => {
    const text = "some avg10=12.50 avg60=8.00 avg300=2.00 total=123456789\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    expect(parsePressureSomeTotal(text)).toBe(123456789)
    expect(parsePressureSomeTotal("")).toBeUndefined()
    expect(parsePressureSomeAvg10(text)).toBe(12.5)
    expect(parsePressureSomeAvg10("")).toBeUndefined()
  })

  it("bench machine load - a window on this machine answers shares between 0 and 100", () => {
    const w = machineLoadWindow()
    let x = 0
    for (let i = 0; i < 2_000_000; i++) x += i % 7
    const load = w.end(0)
    expect(x).toBeGreaterThan(0)
    for (const v of [load.busyPct, load.stealPct, load.outsidePct!]) {
      expect(v).toBeGreaterThanOrEqual(0)
      expect(v).toBeLessThanOrEqual(100)
    }
    if (load.pressurePct !== undefined) expect(load.pressurePct).toBeGreaterThanOrEqual(0)
  })
})
