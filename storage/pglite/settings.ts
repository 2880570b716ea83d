/**
 * The Postgres settings of the embedded PGlite, and why.
 *
 * PGlite runs Postgres in one WebAssembly linear memory that grows and never shrinks. Its
 * stock settings are those of a server: shared_buffers = 128MB is allocated inside that
 * memory at start, so it grows past the module's initial 128 MB to ~190 MB before a query
 * has run, and every buffer touched stays resident. The embedded store reads and writes
 * through the host file system (NODEFS), whose page cache already holds the hot pages, so
 * a small buffer pool costs a copy, not a disk read. Bounded here (docs/embedded.md has the
 * measurements):
 *
 * - shared_buffers 16MB: the WASM memory stays at its initial 128 MB (PGlite refuses an
 *   `initialMemory` below the module's declared 128 MB);
 * - wal_buffers 1MB, temp_buffers 2MB;
 * - work_mem 2MB, maintenance_work_mem 16MB: the most a sort or an index build can take
 *   before spilling to disk, which is also the most it can grow the memory for good.
 *
 * They are command-line options (`-c`), not postgresql.conf lines, so a data directory made
 * by an older version of this file gets them too.
 */
import { PGlite } from "@electric-sql/pglite"
import { setFlagsFromString } from "node:v8"

export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: "16MB",
  wal_buffers: "1MB",
  temp_buffers: "2MB",
  work_mem: "2MB",
  maintenance_work_mem: "16MB"
}

/** PGlite's own start parameters (single-user mode and friends) plus ours. */
export const pgliteStartParams = (): Array<string> => [
  ...PGlite.defaultStartParams,
  ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ["-c", `${name}=${value}`])
]

let baselineOnly = false

/**
 * On Node, compiles WebAssembly with V8's baseline compiler only (`--liftoff-only`), before
 * the first PGlite compiles its module; PGlite is the only WASM this process runs. V8 would
 * otherwise recompile every hot Postgres function with its optimising compiler and keep both
 * versions: measured here, a PGlite reopen took 123-130 MB RSS instead of 165-187 MB, and
 * 20,000 inserts + 8,000 history reads took 80-110 MB less RSS and no more CPU (the
 * optimising compiles cost more CPU than they saved over that run). Deno keeps its defaults.
 */
export const compileWasmBaselineOnly = (): void => {
  if (baselineOnly || "Deno" in globalThis) return
  baselineOnly = true
  try {
    setFlagsFromString("--liftoff-only")
  } catch {
    // A runtime without V8 flags keeps its defaults.
  }
}
