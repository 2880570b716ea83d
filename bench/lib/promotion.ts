/**
 * Preload for experiments (never in headline runs): how much each young-generation GC moves
 * into the old generation, i.e. what the node keeps past two scavenges. After each GC (a
 * PerformanceObserver "gc" entry) it reads the old spaces' used bytes; the growth across
 * minor GCs is what they promoted (plus what was allocated in old space directly since the
 * last GC). Every 5 s a line goes to `$TMPDIR/chat-bench-promotion-<pid>.log`: minor and
 * major GCs so far and the KB grown across minor GCs. Any server can load it:
 *
 *   BENCH_OURS_NODE_FLAGS="--import ./bench/.build/lib/promotion.js" \
 *   BENCH_PEER_NODE_FLAGS="--import ./bench/.build/lib/promotion.js" npm run bench -- ...
 *
 * Divided by the messages of the same 5 s it gives KB promoted per message, for our node
 * and the peers alike. Written here because V8 reports promotion only in its own trace
 * lines (`--trace-gc-nvp`), which the peers' harness does not keep.
 */
import { appendFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics } from "node:v8"

const OLD_SPACES = new Set(["old_space", "code_space", "map_space", "large_object_space"])
const oldBytes = (): number => {
  let sum = 0
  for (const space of getHeapSpaceStatistics()) if (OLD_SPACES.has(space.space_name)) sum += space.space_used_size
  return sum
}

let last = oldBytes()
let minors = 0
let majors = 0
let grown = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const now = oldBytes()
    if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      minors++
      grown += now - last
    } else majors++
    last = now
  }
}).observe({ entryTypes: ["gc"] })

const file = join(tmpdir(), `chat-bench-promotion-${process.pid}.log`)
setInterval(() => {
  appendFileSync(file, `${Date.now()} minors ${minors} majors ${majors} grownKB ${Math.round(grown / 1024)}\n`)
}, 5000).unref()
