/**
 * Preload for experiments (never in headline runs): what a server's GC does under load. Every
 * 5 s a line goes to `$TMPDIR/chat-bench-gc-<pid>.log` with, for those 5 s:
 * - the young-generation GCs (scavenges), their longest pause, and the KB the old generation
 *   grew across them: what they promoted, i.e. what the server's objects keep past two
 *   scavenges (plus what was allocated in old space directly), which only a full GC frees;
 * - the full GCs' pauses (ms);
 * - the event loop's delay, p99 and max (`monitorEventLoopDelay`, 1 ms resolution): how long
 *   a ready callback waited, GC pauses and long turns alike.
 * Any server can load it:
 *
 *   BENCH_OURS_NODE_FLAGS="--import ./bench/.build/lib/gcTrace.js" \
 *   BENCH_PEER_NODE_FLAGS="--import ./bench/.build/lib/gcTrace.js" npm run bench -- ...
 *
 * Written here because V8 reports promotion only in its own trace lines (`--trace-gc-nvp`),
 * which the peers' harness does not keep.
 */
import { appendFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics } from "node:v8"

const OLD_SPACES = new Set(["old_space", "code_space", "map_space", "large_object_space"])
const oldBytes = (): number => {
  let sum = 0
  for (const space of getHeapSpaceStatistics()) if (OLD_SPACES.has(space.space_name)) sum += space.space_used_size
  return sum
}

let last = oldBytes()
let scavenges = 0
let longestScavenge = 0
let promoted = 0
let fullPauses: Array<number> = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind
    const now = oldBytes()
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      scavenges++
      longestScavenge = Math.max(longestScavenge, entry.duration)
      promoted += now - last
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) fullPauses.push(entry.duration)
    last = now
  }
}).observe({ entryTypes: ["gc"] })

const delay = monitorEventLoopDelay({ resolution: 1 })
delay.enable()
const ms = (ns: number) => (ns / 1e6).toFixed(1)
const file = join(tmpdir(), `chat-bench-gc-${process.pid}.log`)
setInterval(() => {
  appendFileSync(
    file,
    `${new Date().toISOString()} scavenges ${scavenges} longest ${longestScavenge.toFixed(1)} ms promoted ${Math.round(promoted / 1024)} KB; ` +
      `full GCs [${fullPauses.map((p) => p.toFixed(1)).join(" ")}] ms; loop delay p99 ${ms(delay.percentile(99))} max ${ms(delay.max)} ms\n`
  )
  scavenges = 0
  longestScavenge = 0
  promoted = 0
  fullPauses = []
  delay.reset()
}, 5000).unref()
