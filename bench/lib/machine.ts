/** Facts about the machine a run happened on, for the report. */
import { spawnSync } from "node:child_process"
import os from "node:os"

const sh = (cmd: string): string => {
  const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8" })
  return r.status === 0 ? r.stdout.trim() : ""
}

/** Open-file limit (soft) this process and its children run with. */
export const fdLimit = (): number => {
  const n = Number(sh("ulimit -n"))
  return Number.isFinite(n) && n > 0 ? n : 1024
}

export interface MachineFacts {
  readonly nproc: number
  readonly cpuModel: string
  readonly memoryMB: number
  readonly node: string
  readonly os: string
  readonly loadAverageAtStart: ReadonlyArray<number>
  readonly fdLimit: number
  readonly ephemeralPorts: string
}

export const machineFacts = (): MachineFacts => ({
  nproc: Number(sh("nproc")) || os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryMB: Math.round(os.totalmem() / 1024 / 1024),
  node: process.version,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  fdLimit: fdLimit(),
  ephemeralPorts: sh("cat /proc/sys/net/ipv4/ip_local_port_range").replace(/\s+/g, "-")
})
