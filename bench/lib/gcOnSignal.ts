/**
 * Preloaded (`--import`) into every server the idle scenario measures, our node and the
 * peers alike, with `--expose-gc`: SIGUSR2 runs a full garbage collection, so that memory
 * per connection can be read without the garbage of connecting, and then writes the heap in
 * use to a file the bench reads (bench/lib/heapUsed.ts). Bench-only: the product never
 * loads this file.
 */
import { writeFileSync } from "node:fs"
import { heapUsedFile } from "./heapUsed.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (typeof gc === "function")
  process.on("SIGUSR2", () => {
    gc()
    writeFileSync(heapUsedFile(process.pid), String(process.memoryUsage().heapUsed))
  })

/**
 * `BENCH_HEAP_SNAPSHOT=<dir>`: after each such GC, also a heap snapshot into <dir> (the last
 * one is taken with every connection open), to see what a connection keeps: open it in
 * Chrome DevTools, or `node bench/heapsummary.ts <file>` for bytes by constructor.
 */
const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT
if (typeof gc === "function" && snapshotDir) {
  const { writeHeapSnapshot } = await import("node:v8")
  const { join } = await import("node:path")
  const { mkdirSync } = await import("node:fs")
  // A missing directory would make the first snapshot throw, and the signal handler with it.
  mkdirSync(snapshotDir, { recursive: true })
  let n = 0
  process.on("SIGUSR2", () => {
    writeHeapSnapshot(join(snapshotDir, `heap-${process.pid}-${++n}.heapsnapshot`))
  })
}
