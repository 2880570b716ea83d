/**
 * How busy the whole machine was over a window (Linux /proc), so a measurement taken while
 * something else ran can be told apart (issue 12: "record whole-machine CPU, steal and
 * /proc/pressure/cpu per step, and CPU used by processes outside the run"):
 *
 * - busy and steal: shares of all CPUs' time from /proc/stat (steal: taken by the hypervisor);
 * - pressure: the share of wall time some runnable task waited for a CPU, from the `total`
 *   (µs) of the `some` line of /proc/pressure/cpu (absent on kernels without PSI);
 * - outside: busy CPU time not used by the processes of the run, as a share of all CPUs' time,
 *   when the caller says how many ticks its own processes used. Interrupt and softirq time
 *   is left out of it (and reported as `irqPct`): the kernel does the loopback network work
 *   of the run's own sockets there, charged to no process, so counting it as "outside" would
 *   blame a busy network on someone else.
 */
import { readFileSync } from "node:fs"
import { diskSyncBetween, ensureDiskProbe, type DiskSync } from "./diskProbe.ts"

export interface CpuTimes {
  /** Sum of every field of the `cpu` line, in ticks (all CPUs). */
  readonly total: number
  /** idle + iowait. */
  readonly idle: number
  readonly steal: number
  /** irq + softirq. */
  readonly irq: number
}

/** The aggregate `cpu` line of a /proc/stat text. */
export const parseProcStat = (text: string): CpuTimes => {
  const line = text.split("\n").find((l) => l.startsWith("cpu "))
  if (line === undefined) throw new Error("no cpu line in /proc/stat")
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
  // counted in user/nice, so it is left out of the total.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, steal, irq: irq + softirq }
}

/** The `total=` of the `some` line of /proc/pressure/cpu, in µs; undefined without PSI. */
export const parsePressureSomeTotal = (text: string): number | undefined => {
  const m = /^some .*\btotal=(\d+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}

/** The `avg10=` of the `some` line of /proc/pressure/cpu (percent); undefined without PSI. */
export const parsePressureSomeAvg10 = (text: string): number | undefined => {
  const m = /^some .*\bavg10=([\d.]+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

export interface MachineLoad {
  /** Percent of all CPUs' time that was not idle. */
  readonly busyPct: number
  readonly stealPct: number
  /** Percent of all CPUs' time in interrupts and softirqs (loopback networking, mostly). */
  readonly irqPct?: number
  /** Percent of wall time some task waited for a CPU; undefined without PSI. */
  readonly pressurePct: number | undefined
  /** The kernel's own 10 s average of the same, read at the end of the window. */
  readonly pressureAvg10?: number
  /** Percent of all CPUs' time used by processes outside the run; undefined when not given. */
  readonly outsidePct: number | undefined
  /** The disk's flush time over the window (./diskProbe.ts). */
  readonly diskSync?: DiskSync
}

/**
 * Starts a window now; `end(runTicks?)` answers the machine's load over it. `runTicks` is
 * the CPU the run's own processes used in the window, in the same clock ticks as /proc/stat.
 */
export const machineLoadWindow = () => {
  ensureDiskProbe()
  const t0 = performance.now()
  const cpu0 = parseProcStat(read("/proc/stat") ?? "")
  const psi0 = parsePressureSomeTotal(read("/proc/pressure/cpu") ?? "")
  return {
    end: (runTicks?: number): MachineLoad => {
      const t1 = performance.now()
      const wallUs = (t1 - t0) * 1000
      const diskSync = diskSyncBetween(t0, t1)
      const cpu1 = parseProcStat(read("/proc/stat") ?? "")
      const psiText = read("/proc/pressure/cpu") ?? ""
      const psi1 = parsePressureSomeTotal(psiText)
      const avg10 = parsePressureSomeAvg10(psiText)
      const total = Math.max(1, cpu1.total - cpu0.total)
      const busy = total - (cpu1.idle - cpu0.idle)
      const pct = (x: number) => Math.round((x / total) * 1000) / 10
      return {
        busyPct: pct(busy),
        stealPct: pct(cpu1.steal - cpu0.steal),
        irqPct: pct(cpu1.irq - cpu0.irq),
        pressurePct:
          psi0 === undefined || psi1 === undefined || wallUs <= 0
            ? undefined
            : Math.round(((psi1 - psi0) / wallUs) * 1000) / 10,
        ...(avg10 !== undefined ? { pressureAvg10: avg10 } : {}),
        outsidePct: runTicks === undefined ? undefined : pct(Math.max(0, busy - (cpu1.irq - cpu0.irq) - (cpu1.steal - cpu0.steal) - runTicks)),
        ...(diskSync !== undefined ? { diskSync } : {})
      }
    }
  }
}
