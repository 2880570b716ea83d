/**
 * Every process the bench starts is registered here, so that a run that ends early (an
 * error, Ctrl-C) still stops its servers and client processes: by pid, never by name.
 */
import type { ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The project root: servers and peers are started from here. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url))

const live = new Set<ChildProcess>()
const onExit: Array<() => void> = []

const killAll = () => {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  live.clear()
  for (const f of onExit.splice(0)) {
    try {
      f()
    } catch {
      // best effort on the way out
    }
  }
}

let installed = false
const install = () => {
  if (installed) return
  installed = true
  process.once("exit", killAll)
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAll()
      process.exit(130)
    })
  }
}

export const track = (child: ChildProcess): ChildProcess => {
  install()
  live.add(child)
  child.once("exit", () => live.delete(child))
  return child
}

/** A synchronous cleanup for process exit (PostgreSQL's pg_ctl stop). */
export const atExit = (f: () => void): (() => void) => {
  install()
  onExit.push(f)
  return () => {
    const i = onExit.indexOf(f)
    if (i >= 0) onExit.splice(i, 1)
  }
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
export const stopChild = async (child: ChildProcess, graceMs = 10_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
  await exited
  clearTimeout(timer)
}

export { freePort } from "../../tests/support/ports.ts"

/** Keeps the last `max` characters of a stream: enough to explain a crash, bounded in memory. */
export const tail = (max = 4000) => {
  let text = ""
  return {
    push: (chunk: Buffer | string) => {
      text = (text + chunk.toString()).slice(-max)
    },
    get: () => text
  }
}
