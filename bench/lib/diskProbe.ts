/**
 * How long the disk takes to make a small write durable, sampled through the whole run, so a
 * step whose database commits waited on a stalled disk can be told apart from a slow server.
 *
 * Why: every persisted server acks after its commit is flushed (fdatasync of the WAL). On this
 * VM the flush usually takes under 1 ms, but at times it stalls for 100-280 ms, with the run's
 * own load light (`strace -T -e fdatasync` on the bench database's processes, 1,000 msg/s:
 * p99 1.1 ms, then 20 calls of 26-277 ms within 75 s, in the steps whose ack p99 was 91-212 ms;
 * none in the step at 14 ms). Such a stall delays every ack of every server alike, and shows
 * in no CPU, steal or pressure figure.
 *
 * The probe is the orchestrator's own: every `PROBE_EVERY_MS` it rewrites one 4 KB block of a
 * file in the directory the databases live in (the system's temporary directory) and
 * fdatasyncs it, off the event loop (libuv's thread pool). That is a few writes a second
 * beside the databases' hundreds. Written here rather than taken from a library: it is one
 * timed write and flush in a loop.
 */
import { open, rm, type FileHandle } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

const PROBE_EVERY_MS = 100
const BLOCK = 4096

export interface DiskSync {
  /** Flushes timed in the window. */
  readonly samples: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Flushes over 50 ms. */
  readonly over50: number
}

interface Sample {
  readonly at: number
  readonly ms: number
}

let probe: { readonly samples: Array<Sample>; readonly path: string; stop: () => Promise<void> } | undefined
/** Called after the next flush is timed (tests await it instead of sleeping). */
let onFlush: Array<() => void> = []

const startProbe = (dir: string) => {
  const samples: Array<Sample> = []
  const path = join(dir, `chat-bench-fsync-probe-${process.pid}`)
  let stopped = false
  let file: FileHandle | undefined
  const block = Buffer.alloc(BLOCK)
  const done = (async () => {
    file = await open(path, "w")
    let n = 0
    while (!stopped) {
      block.writeUInt32LE(n++, 0)
      const t0 = performance.now()
      await file.write(block, 0, BLOCK, 0)
      await file.datasync()
      const t1 = performance.now()
      samples.push({ at: t1, ms: t1 - t0 })
      const waiting = onFlush
      onFlush = []
      for (const f of waiting) f()
      await new Promise<void>((resolve) => setTimeout(resolve, PROBE_EVERY_MS).unref())
    }
  })().catch(() => undefined)
  return {
    samples,
    path,
    stop: async () => {
      stopped = true
      await done
      await file?.close().catch(() => undefined)
      await rm(path, { force: true })
    }
  }
}

/** Starts the probe (once per process) in `dir`, the temporary directory by default. */
export const ensureDiskProbe = (dir: string = tmpdir()): void => {
  probe ??= startProbe(dir)
}

/** The probe's file while it runs. */
export const diskProbePath = (): string | undefined => probe?.path

/** Resolves once the probe has timed its next flush. */
export const nextDiskFlush = (): Promise<void> => new Promise((resolve) => onFlush.push(resolve))

export const stopDiskProbe = async (): Promise<void> => {
  const p = probe
  probe = undefined
  await p?.stop()
}

/** Summarises the flushes that completed in [from, to] (performance.now() times). */
export const diskSyncBetween = (from: number, to: number): DiskSync | undefined => {
  if (probe === undefined) return undefined
  const ms: Array<number> = []
  for (const s of probe.samples) if (s.at >= from && s.at <= to) ms.push(s.ms)
  if (ms.length === 0) return { samples: 0, p99Ms: 0, maxMs: 0, over50: 0 }
  ms.sort((a, b) => a - b)
  const r = (x: number) => Math.round(x * 100) / 100
  return {
    samples: ms.length,
    p99Ms: r(ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.99) - 1)]!),
    maxMs: r(ms[ms.length - 1]!),
    over50: ms.filter((x) => x > 50).length
  }
}
