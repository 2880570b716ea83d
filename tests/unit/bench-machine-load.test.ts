/** bench/lib/machineLoad.ts: the readings that mark a bench step taken on a busy machine. */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { diskProbePath, diskSyncBetween, ensureDiskProbe, nextDiskFlush, stopDiskProbe } from "../../bench/lib/diskProbe.ts"
import { machineLoadWindow, parsePressureSomeAvg10, parsePressureSomeTotal, parseProcStat } from "../../bench/lib/machineLoad.ts"

describe("bench machine load", () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-probe-test-"))
  afterAll(async () => {
    await stopDiskProbe()
    rmSync(dir, { recursive: true, force: true })
  })

  it("bench machine load - the disk probe times flushes in its directory, a window counts those that ended in it, and stopping removes its file", async () => {
    ensureDiskProbe(dir)
    const path = diskProbePath()!
    expect(path.startsWith(dir)).toBe(true)
    expect(diskSyncBetween(0, 0)).toEqual({ samples: 0, p99Ms: 0, maxMs: 0, over50: 0 })
    const t0 = performance.now()
    await nextDiskFlush()
    await nextDiskFlush()
    const t1 = performance.now()
    const sync = diskSyncBetween(t0, t1)!
    expect(sync.samples).toBeGreaterThanOrEqual(2)
    expect(sync.maxMs).toBeGreaterThan(0)
    expect(sync.p99Ms).toBeLessThanOrEqual(sync.maxMs)
    expect(sync.maxMs).toBeLessThanOrEqual(t1 - t0)
    expect(existsSync(path)).toBe(true)
    await stopDiskProbe()
    expect(existsSync(path)).toBe(false)
    expect(diskSyncBetween(t0, t1)).toBeUndefined()
  })

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
