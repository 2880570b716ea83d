/**
 * Where a server started with bench/lib/gcOnSignal.ts leaves its JS heap size after each
 * full GC, for the idle scenario to read beside RSS. A file named by the server's pid, so no
 * setting has to be passed to the server: the bench knows the pid.
 */
import { readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const heapUsedFile = (pid: number): string => join(tmpdir(), `chat-bench-heap-${pid}`)

/** The heap in use after the server's last full GC, in bytes; undefined when it wrote none. */
export const readHeapUsed = (pid: number): number | undefined => {
  try {
    const n = Number(readFileSync(heapUsedFile(pid), "utf8"))
    return Number.isFinite(n) && n > 0 ? n : undefined
  } catch {
    return undefined
  }
}

export const removeHeapUsed = (pid: number): void => rmSync(heapUsedFile(pid), { force: true })
