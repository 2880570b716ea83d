/**
 * Per-process resource readings from /proc (Linux only): resident memory from
 * /proc/<pid>/status (VmRSS) and CPU time from /proc/<pid>/stat (utime + stime, in clock
 * ticks). CPU is reported as percent of one core over a wall-clock window: 200 % means two
 * cores were busy the whole time.
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

/** Clock ticks per second (`getconf CLK_TCK`), almost always 100. */
export const CLK_TCK: number = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" })
  const n = Number(r.stdout?.trim())
  return Number.isFinite(n) && n > 0 ? n : 100
})()

/** VmRSS in bytes; 0 when the process is gone. */
export const rssBytes = (pid: number): number => {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces and parens). */
const statFields = (pid: number): Array<string> | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    return text.slice(text.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

// Indexes into statFields: field n of proc(5) is at n - 3.
const PPID = 1
const UTIME = 11
const STIME = 12
const CUTIME = 13
const CSTIME = 14

/** utime + stime of one process, in ticks. */
export const cpuTicks = (pid: number): number => {
  const f = statFields(pid)
  return f === undefined ? 0 : Number(f[UTIME]) + Number(f[STIME])
}

/**
 * CPU ticks of a process and its direct children: for PostgreSQL, the postmaster and its
 * backends. Backends that exited are in the postmaster's cutime/cstime, so they count too.
 */
export const treeCpuTicks = (rootPid: number): number => {
  const root = statFields(rootPid)
  if (root === undefined) return 0
  let total = Number(root[UTIME]) + Number(root[STIME]) + Number(root[CUTIME]) + Number(root[CSTIME])
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const f = statFields(Number(name))
    if (f !== undefined && Number(f[PPID]) === rootPid) total += Number(f[UTIME]) + Number(f[STIME])
  }
  return total
}

/** A CPU meter over a window: start() then stop() gives percent of one core. */
export const cpuMeter = (read: () => number) => {
  const t0 = performance.now()
  const c0 = read()
  return {
    stop: (): number => {
      const seconds = (performance.now() - t0) / 1000
      const ticks = read() - c0
      return seconds <= 0 ? 0 : Math.round((ticks / CLK_TCK / seconds) * 1000) / 10
    }
  }
}

/** Samples RSS every `everyMs` until stopped; answers the highest sample. */
export const rssPeakSampler = (pid: number, everyMs = 200) => {
  let peak = rssBytes(pid)
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid))
  }, everyMs)
  return {
    stop: (): number => {
      clearInterval(timer)
      return Math.max(peak, rssBytes(pid))
    }
  }
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
