/**
 * BENCHMARKS.md, generated from one results file: machine, command, the targets and a
 * table per scenario with this project and the peers side by side. Nothing in it is
 * written by hand, so it always says what the run measured and nothing more.
 */
import type { IdleResult } from "../scenarios/idle.ts"
import type { ServerRun, StepReport } from "../scenarios/stepped.ts"
import type { LoadResult } from "../scenarios/load.ts"
import { acked, aggregate, deliveries, fixedCells, idleMedian, ratioOfMedians, servers, type ServerAggregate } from "./aggregate.ts"
import type { BenchResults } from "./results.ts"

const LABELS: Record<string, string> = {
  "ours-postgres": "this project (PostgreSQL)",
  "ours-pglite": "this project (PGlite)",
  "ours-scylla": "this project (ScyllaDB)",
  "ours-dual": "this project (dual-write)",
  "ours-cluster2": "this project, 2 nodes + NATS (PostgreSQL)",
  rawws: "raw ws",
  socketio: "Socket.IO",
  "socketio-pg": "Socket.IO + INSERT",
  "lean-pg": "lean (ws + group INSERT)"
}
const label = (s: string) => LABELS[s] ?? s

const n = (v: number | null | undefined, digits = 0): string =>
  v === null || v === undefined || !Number.isFinite(v) ? "-" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const ms = (v: number | null | undefined) => (v === null || v === undefined ? "-" : n(v, 2))
const x = (v: number | null) => (v === null ? "-" : `${n(v, 2)}x`)
const ratioTo = (value: number, other: number | null) => (other === null || other === 0 ? null : value / other)

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")

const stepRows = (runs: ReadonlyArray<ServerRun>, kind: "fanout" | "persist") =>
  runs.flatMap((run) =>
    run.steps.map((s: StepReport) => [
      `${label(run.server)}${run.repeat !== undefined ? ` #${run.repeat}` : ""}`,
      `${n(s.targetRate)}${s.fine ? ` (fine, ${n(s.windowS)} s)` : ""}`,
      n(s.sentRate),
      kind === "fanout" ? n(s.deliveriesPerS) : n(s.ackedPerS),
      ms(s.e2e.p50),
      ms(s.e2e.p99),
      s.ack === null ? "-" : `${ms(s.ack.p50)} / ${ms(s.ack.p99)} / ${ms(s.ack.p999)}`,
      `${n(s.lost)} / ${n(s.duplicates)} / ${n(s.reordered)}`,
      n(s.server.cpuPct) + (s.db === null ? "" : ` (db ${n(s.db.cpuPct)})`),
      s.server.usPerMsg === undefined || s.server.usPerMsg === null ? "-" : n(s.server.usPerMsg) + (s.db?.usPerMsg != null ? ` (db ${n(s.db.usPerMsg)})` : ""),
      n(s.server.rssPeakMB, 1),
      `${ms(s.clients.lateness?.p99)} / ${(s.clients.cpuPct ?? []).map((c) => n(c)).join(", ")}`,
      s.machine === undefined ? "-" : `${n(s.machine.busyPct)} / ${n(s.machine.outsidePct)} / ${n(s.machine.stealPct)} / ${n(s.machine.pressurePct)}`,
      s.machine?.diskSync === undefined ? "-" : ms(s.machine.diskSync.maxMs),
      validity(s),
      (s.held ? "yes" : `no: ${s.failedBecause.join("; ")}`) + (s.retried === true ? " (run again)" : "")
    ])
  )

/** Whether a step's figures can be trusted, and whether the disk stalled in it. */
const validity = (s: StepReport) =>
  (s.clientLimited ? "client-limited" : s.machineBusy ? "busy machine" : "yes") + (s.diskStalled === true ? " (disk stall)" : "")

const STEP_HEAD = [
  "server (run)",
  "target msg/s",
  "sent msg/s",
  "",
  "e2e p50 ms",
  "e2e p99 ms",
  "ack p50 / p99 / p99.9 ms",
  "lost / dup / reordered",
  "server CPU % (db)",
  "CPU µs per msg (db)",
  "RSS peak MB",
  "send lateness p99 ms / client CPU %",
  "machine busy / outside / steal / PSI %",
  "disk flush max ms",
  "valid",
  "held"
]

const range = (a: ServerAggregate, digits = 0) =>
  a.median === null ? "-" : a.values.length === 1 ? n(a.median, digits) : `${n(a.median, digits)} (${n(a.min, digits)}–${n(a.max, digits)})`

const runsCell = (a: ServerAggregate) =>
  `${a.trusted} of ${a.runs}${a.untrustedBecause.length > 0 ? ` (left out: ${a.untrustedBecause.join("; ")})` : ""}`

/** The headline of a stepped scenario: per server, median and range over trusted runs, ratios of medians. */
const headline = (load: LoadResult, metric: "deliveries" | "acked", refs: ReadonlyArray<string>) => {
  const pick = metric === "deliveries" ? deliveries : acked
  const aggs = servers(load).map((srv) => aggregate(load, srv, pick))
  const ref = (r: string) => aggs.find((a) => a.server === r)
  const bestRate = (srv: string) => aggregate(load, srv, (s) => s.targetRate)
  const p99 = (srv: string) => aggregate(load, srv, (s) => (metric === "acked" ? (s.ack?.p99 ?? null) : s.e2e.p99))
  const cpuUs = (srv: string) => aggregate(load, srv, (s) => s.server.usPerMsg ?? null)
  return table(
    [
      "server",
      "trusted runs",
      "highest rate held, msg/s: median (range)",
      `${metric === "deliveries" ? "deliveries/s" : "acked msg/s"}: median (range)`,
      `${metric === "deliveries" ? "e2e" : "ack"} p99 ms at that step`,
      "CPU µs per msg",
      ...refs.map((r) => `vs ${label(r)}`),
      "stopped because (each run)"
    ],
    aggs.map((a) => [
      label(a.server),
      runsCell(a),
      range(bestRate(a.server)),
      range(a),
      range(p99(a.server), 2),
      range(cpuUs(a.server)),
      ...refs.map((r) => (r === a.server ? "1.00x" : x(ratioOfMedians(a, ref(r))))),
      load.runs
        .filter((r) => r.server === a.server)
        .map((r) => (r.error !== undefined ? `error: ${r.error.split("\n")[0].slice(0, 120)}` : r.stoppedBecause))
        .join(" · ")
    ])
  )
}

/** `--profile`: where our node's CPU time went, per profiled run. */
const profileBlock = (runs: ReadonlyArray<ServerRun>) =>
  runs.flatMap((run) => {
    const p = run.profile
    if (p === undefined) return []
    const rows = Array.from({ length: Math.max(p.areas.length, p.functions.length) }, (_, i) => [
      p.areas[i] ? `${p.areas[i]!.name}` : "",
      p.areas[i] ? `${p.areas[i]!.pct.toFixed(1)} %` : "",
      p.functions[i] ? `\`${p.functions[i]!.name.replace(/\|/g, "\\|")}\`` : "",
      p.functions[i] ? `${p.functions[i]!.pct.toFixed(1)} %` : ""
    ])
    return [
      `<details><summary>where ${label(run.server)} spent its time (V8 CPU profile, ${p.seconds} s: the whole run, start-up and every step including the one that failed)</summary>`,
      "",
      "Self time as a share of wall time on the node's main thread. `(idle)`: waiting for I/O; `(garbage collector)`: V8 GC; " +
        "`writev`/`writeBuffer`: socket write system calls (WebSocket frames, PostgreSQL protocol); `effect`: the Effect runtime (fibers, scheduler). " +
        "A profiled run is slower than an unprofiled one: its throughput figures are not headline figures.",
      "",
      table(["area", "self", "function", "self"], rows),
      "",
      "</details>",
      ""
    ]
  })

const everyStep = (load: LoadResult, kind: "fanout" | "persist") => [
  "<details><summary>every step</summary>",
  "",
  table(STEP_HEAD.map((h) => (h === "" ? (kind === "fanout" ? "deliveries/s" : "acked/s") : h)), stepRows(load.runs, kind)),
  "",
  "</details>",
  ""
]

const stepsLine = (p: LoadResult["params"]) =>
  `steps of ${n(p.stepMs / 1000, 1)} s at ${p.rates.map((r) => n(r)).join(", ")} msg/s` +
  ((p.bisect ?? 0) > 0 ? `, then up to ${p.bisect} bisection steps of ${n((p.fineStepMs ?? p.stepMs) / 1000, 1)} s between the last step that held and the lowest that failed (a failure while client-limited bounds a run only when no failure was the server's own)` : "")

const repeatsLine = (load: LoadResult) => {
  const k = Math.max(...load.runs.map((r) => r.repeat ?? 1))
  return k > 1 ? ` Each server ran ${k} times, interleaved (A, B, C, A, B, C, ...); figures are the median (range) over its trusted runs.` : " One run per server (`--repeats` for more)."
}

const fanoutSection = (r: BenchResults, chart: string | undefined) => {
  const f = r.scenarios.fanout!
  const p = f.params
  return [
    "## 1. Fan-out",
    "",
    `${p.rooms} rooms of ${p.roomSize} connections (${n(p.rooms * p.roomSize)} in all), ${p.senders} senders, ${p.bodyBytes}-byte bodies, ` +
      `${p.clientProcesses} client processes${p.senderProcess === true ? " receiving and one more holding the senders" : ""}; ${stepsLine(p)}. A step holds while p99 send-to-delivery ` +
      `stays <= ${p.limitMs} ms with no loss. Deliveries count every subscriber, the sender included.${repeatsLine(f)}`,
    "",
    headline(f, "deliveries", ["rawws", "socketio"]),
    "",
    ...(chart !== undefined ? [`![fan-out: deliveries/s against p99 latency](${chart})`, ""] : []),
    ...everyStep(f, "fanout"),
    ...profileBlock(f.runs)
  ]
}

const persistSection = (r: BenchResults, chart: string | undefined) => {
  const f = r.scenarios.persist!
  const p = f.params
  return [
    "## 2. Persisted throughput",
    "",
    `${p.senders} senders over ${p.rooms} rooms (rooms of ${p.roomSize}), every message acked once committed; ${stepsLine(p)}. ` +
      `A step holds while p99 send-to-ack stays <= ${p.limitMs} ms with nothing lost or unacked.${repeatsLine(f)}`,
    "",
    headline(f, "acked", ["socketio-pg"]),
    "",
    ...(chart !== undefined ? [`![persisted: acked msg/s against p99 ack latency](${chart})`, ""] : []),
    ...everyStep(f, "persist"),
    ...profileBlock(f.runs)
  ]
}

const fixedSection = (r: BenchResults) => {
  const f = r.scenarios.fixed!
  const p = f.params
  return [
    "## Fixed rates: cost per message where every server holds",
    "",
    `${p.rooms} rooms of 2, every member sends, every message acked once committed (persisted servers); every server at ` +
      `${p.rates.map((v) => n(v)).join(", ")} msg/s for ${n(p.stepMs / 1000, 1)} s each, every rate run whatever the latency. ` +
      "CPU µs per message: the server process's utime+stime over the step divided by the acked messages (db: the database's processes, likewise). " +
      "Medians over the runs.",
    "",
    table(
      ["server", "msg/s", "acked msg/s", "server CPU µs/msg", "db CPU µs/msg", "ack p50 ms", "ack p99 ms", "ack p99.9 ms", "lost / dup / reordered", "runs (untrusted)"],
      fixedCells(f).map((c) => [
        label(c.server),
        n(c.rate),
        n(c.ackedPerS),
        n(c.usPerMsg),
        n(c.dbUsPerMsg),
        ms(c.ackP50),
        ms(c.ackP99),
        ms(c.ackP999),
        `${n(c.lost)} / ${n(c.duplicates)} / ${n(c.reordered)}`,
        `${c.runs}${c.untrusted > 0 ? ` (${c.untrusted} client-limited or on a busy machine)` : ""}`
      ])
    ),
    "",
    ...everyStep(f, "persist")
  ]
}

const zipfSection = (r: BenchResults) => {
  const f = r.scenarios.zipf!
  const p = f.params
  const z = r.config.zipf
  return [
    "## Many rooms of 2, Zipf activity",
    "",
    `${n(p.rooms)} rooms of 2 (${n(p.rooms * 2)} connections, every member sends); the room of rank k gets a share of the rate proportional to 1/k^${z.exponent} ` +
      `(the busiest room ${n(p.rooms > 0 ? (1 / zipfSum(p.rooms, z.exponent)) * 100 : 0, 1)} % of all messages); ${stepsLine(p)}. A step holds while p99 send-to-ack stays <= ${p.limitMs} ms ` +
      `with nothing lost.${repeatsLine(f)}`,
    "",
    headline(f, "acked", ["socketio-pg"]),
    "",
    ...everyStep(f, "persist")
  ]
}

const zipfSum = (rooms: number, s: number) => {
  let h = 0
  for (let k = 1; k <= rooms; k++) h += 1 / k ** s
  return h
}

const stormSection = (r: BenchResults) => {
  const f = r.scenarios.storm!
  const p = f.params
  const z = r.config.storm
  return [
    "## Reconnect storm",
    "",
    `${n(p.rooms)} rooms, each with one sender and ${z.perRoom} listeners (${n(p.rooms * z.perRoom)} listeners in all); the senders send ${n(z.rate)} msg/s in all ` +
      `throughout two steps of ${n(p.stepMs / 1000, 1)} s. In step 2, ${n((p.storm?.atMs ?? 0) / 1000, 1)} s in, every listener drops its connection at once ` +
      `(abruptly, no close handshake), stays away ${n(z.dropMs)} ms, then they all reconnect at once and resume with \`subscribe {since: last seq seen}\`. ` +
      "Lost, duplicate and reordered count what the listeners got against what was sent (replays included): a gapless resume shows 0 / 0 / 0. " +
      "Ack latency is the senders', during the storm (step 2) against the calm step 1.",
    "",
    table(
      ["server", "step", "listeners resumed (failed)", "reconnect p50 / p99 / max ms", "all resumed after ms", "lost / dup / reordered", "e2e p99 ms", "ack p99 ms", "server CPU %", "valid"],
      f.runs.flatMap((run) =>
        run.steps.map((s) => [
          label(run.server),
          s.storm === undefined ? "1 (calm)" : "2 (storm)",
          s.storm === undefined ? "-" : `${n(s.storm.stormers - s.storm.failed)} (${n(s.storm.failed)})${s.storm.firstError !== undefined ? `: ${s.storm.firstError.slice(0, 80)}` : ""}`,
          s.storm === undefined ? "-" : `${ms(s.storm.reconnect.p50)} / ${ms(s.storm.reconnect.p99)} / ${ms(s.storm.reconnect.max)}`,
          s.storm === undefined ? "-" : n(s.storm.wallMs),
          `${n(s.lost)} / ${n(s.duplicates)} / ${n(s.reordered)}`,
          ms(s.e2e.p99),
          ms(s.ack?.p99),
          n(s.server.cpuPct),
          validity(s)
        ])
      )
    ),
    "",
    ...f.runs.filter((run) => run.error !== undefined).map((run) => `- ${label(run.server)}: error: ${run.error!.split("\n")[0].slice(0, 200)}`),
    ""
  ]
}

const mixedSection = (r: BenchResults) => {
  const f = r.scenarios.mixed!
  const p = f.params
  return [
    "## History reads while writes run",
    "",
    `${n(p.rooms)} rooms of 2, ${n(r.config.mixed.rate)} persisted msg/s in two steps of ${n(p.stepMs / 1000, 1)} s; in step 2, REST history pages of 50 ` +
      `(\`GET /v1/rooms/:room/messages?limit=50\`, a random room, as a member) at ${n(r.config.mixed.readsPerS)} per second beside the writes ` +
      "(open loop from the orchestrator, at most 16 in flight; a read that would exceed that counts as shed). Read latency from each read's scheduled time.",
    "",
    table(
      ["server", "step", "acked msg/s", "ack p50 / p99 / p99.9 ms", "history reads (shed or failed)", "history p50 / p99 / max ms", "server CPU % (db)", "valid"],
      f.runs.flatMap((run) =>
        run.steps.map((s) => [
          label(run.server),
          s.history === undefined ? "1 (writes)" : "2 (writes + reads)",
          n(s.ackedPerS),
          s.ack === null ? "-" : `${ms(s.ack.p50)} / ${ms(s.ack.p99)} / ${ms(s.ack.p999)}`,
          s.history === undefined ? "-" : `${n(s.history.reads)} (${n(s.history.errors)})`,
          s.history === undefined ? "-" : `${ms(s.history.latency.p50)} / ${ms(s.history.latency.p99)} / ${ms(s.history.latency.max)}`,
          n(s.server.cpuPct) + (s.db === null ? "" : ` (db ${n(s.db.cpuPct)})`),
          validity(s)
        ])
      )
    ),
    "",
    ...f.runs.filter((run) => run.error !== undefined).map((run) => `- ${label(run.server)}: error: ${run.error!.split("\n")[0].slice(0, 200)}`),
    ""
  ]
}

const clusterSection = (r: BenchResults) => {
  const f = r.scenarios.cluster!
  const p = f.params
  return [
    "## Two nodes on one host behind NATS",
    "",
    `Our server in clustered mode: two nodes (\`CHAT_NATS_URL\`, distinct \`CHAT_NODE_ID\`), one NATS server with JetStream, one PostgreSQL database, all on this host; ` +
      `each room's two members connect to different nodes, so half of the sends are routed to the room's owner on the other node and every delivery to the other member crosses NATS. ` +
      `Beside it, one node alone under the same load. ${n(p.rooms)} rooms of 2; ${stepsLine(p)}; a step holds while p99 send-to-ack stays <= ${p.limitMs} ms. ` +
      `Server CPU: both nodes; db: PostgreSQL and the NATS server.${repeatsLine(f)}`,
    "",
    headline(f, "acked", ["ours-postgres"]),
    "",
    ...everyStep(f, "persist")
  ]
}

const killSection = (r: BenchResults) => {
  const k = r.scenarios.killcheck!
  return [
    "## kill -9: is every acked message there?",
    "",
    `Per persisted server: ${n(r.config.killcheck.messages)} sends over ${r.config.killcheck.rooms} rooms all at once, SIGKILL as soon as half are acked ` +
      "(the rest in flight), restart on the same data, read every room back (our servers through REST history; Socket.IO + INSERT from its table). " +
      "Passes when every message acked before the kill is present exactly once; unacked messages may or may not be there.",
    "",
    table(
      ["server", "sent", "acked before kill", "acked and missing", "unacked but present", "stored twice", "restart ms", "result"],
      k.runs.map((run) => [
        label(run.server),
        n(run.sent),
        n(run.acked),
        n(run.missing),
        n(run.unackedPresent),
        n(run.duplicates),
        n(run.restartMs),
        run.error !== undefined ? `error: ${run.error.split("\n")[0].slice(0, 160)}` : run.passed ? "pass" : "**FAIL**"
      ])
    ),
    ""
  ]
}

/** Per server, what it guaranteed over every stepped step of the run, beside the kill -9 result. */
const guaranteesSection = (r: BenchResults) => {
  const loads = [r.scenarios.fanout, r.scenarios.persist, r.scenarios.fixed, r.scenarios.zipf, r.scenarios.storm, r.scenarios.mixed, r.scenarios.cluster].filter((l): l is LoadResult => l !== undefined)
  const names = [...new Set(loads.flatMap(servers))]
  if (names.length === 0) return []
  const steps = (srv: string) => loads.flatMap((l) => l.runs.filter((run) => run.server === srv).flatMap((run) => run.steps))
  const held = (srv: string) => steps(srv).filter((s) => s.held)
  const kill = (srv: string) => r.scenarios.killcheck?.runs.find((k) => k.server === srv)
  return [
    "## What each server guaranteed",
    "",
    "Counted by the client processes over every step of the stepped scenarios: lost (expected deliveries that never came, within the drain " +
      "time), duplicates (a connection got the same message of a sender twice) and reordered (a message arrived after a later one of the same " +
      "sender on the same connection). Totals over the steps that held (overloaded steps lose by design), then over every step.",
    "",
    table(
      ["server", "steps held", "lost / dup / reordered (held steps)", "lost / dup / reordered (all steps)", "kill -9 check"],
      names.map((srv) => {
        const tot = (xs: ReadonlyArray<StepReport>) =>
          `${n(xs.reduce((a, s) => a + s.lost, 0))} / ${n(xs.reduce((a, s) => a + (s.duplicates ?? 0), 0))} / ${n(xs.reduce((a, s) => a + (s.reordered ?? 0), 0))}`
        const k = kill(srv)
        return [
          label(srv),
          `${held(srv).length} of ${steps(srv).length}`,
          tot(held(srv)),
          tot(steps(srv)),
          k === undefined ? (srv === "rawws" || srv === "socketio" ? "not persisted" : "not run") : k.error !== undefined ? "error" : k.passed ? `pass (${n(k.acked)} acked, 0 missing)` : `FAIL (${n(k.missing)} of ${n(k.acked)} missing, ${n(k.duplicates)} stored twice)`
        ]
      })
    ),
    ""
  ]
}

const trustNotes = (r: BenchResults) => {
  const t = r.config.trust
  return [
    "### How far the figures can be trusted",
    "",
    "Every server runs as compiled JavaScript (our node from `dist/`, the peers and client processes bundled into `bench/.build/`), " +
      "never under the profiler in these figures. Latency starts at each message's **scheduled** send time on a fixed-rate schedule, so a " +
      "client that falls behind does not hide the wait (no coordinated omission). A step is **client-limited** when the p99 of how late sends " +
      `ran behind schedule exceeds ${t.lateP99Ms} ms or a client process used more than ${t.clientCpuPct} % of a core (utime+stime from /proc); ` +
      `it is **invalid** (busy machine) when processes outside the run used more than ${t.outsidePct} % of all CPUs' time over the step ` +
      `(whole-machine busy time from /proc/stat minus the run's processes: servers, database, clients, orchestrator) or steal exceeded ${t.stealPct} %. ` +
      "PSI (`/proc/pressure/cpu`, some, share of wall time a task waited for a CPU) is reported but does not invalidate a step: the run's own " +
      "load raises it. A run that stopped on a client-limited or invalid step, or whose best step was invalid, is left out of medians and ratios. " +
      "**Disk flush max** is the slowest flush (4 KB write + fdatasync) of a probe the orchestrator runs every 100 ms in the databases' directory " +
      "(`bench/lib/diskProbe.ts`): every persisted server acks after such a flush, so a stall there delays every ack alike. A step whose probe " +
      "saw a flush slower than the step's latency limit is marked (disk stall); when it fails it is run once more, as on a busy machine, and a run with such a failed step is left out of medians and ratios.",
    ""
  ]
}

const idleSection = (r: BenchResults) => {
  const idle = r.scenarios.idle!
  // Each run against the median of raw ws's runs at the same count.
  const rawAt = (k: number) => idleMedian(idle, "rawws", k)?.median ?? null
  const rawHeapAt = (k: number) => idleMedian(idle, "rawws", k, "perConnectionHeapKB")?.median ?? null
  const heapMeasured = idle.runs.some((r) => r.perConnectionHeapKB !== undefined)
  const vsRaw = (run: IdleResult["runs"][number], value: number | undefined, raw: number | null) =>
    run.server === "rawws" ? (value === undefined ? "-" : "1.00x") : value === undefined ? "-" : x(ratioTo(value, raw))
  return [
    "## 3. Idle connections",
    "",
    `Connections each authenticated (ours) and subscribed to one room of ${idle.roomSize}; memory per connection is the server's RSS growth ` +
      `from "rooms exist, nobody connected" to "all connected", each read after a full garbage collection in the server (SIGUSR2 to a ` +
      `preloaded handler, bench/lib/gcOnSignal.ts, in every server alike), divided by the connections: what a connection keeps (the ratio uses this figure). ` +
      `"At 1 s, no GC" is the growth one second after the last connection without that collection, with the garbage of connecting still on the heap. Open-file limit: ${n(idle.fdLimit)}.` +
      (idle.runs.some((r) => r.repeat !== undefined)
        ? ` Each server ran several times at each count, interleaved (#n); "vs raw ws" compares each run with the median of raw ws's runs, and the target compares the medians.`
        : "") +
      (heapMeasured
        ? " **JS heap KB per connection** is the growth of the JS heap in use (`process.memoryUsage().heapUsed`, written by the same handler " +
          "right after each collection) over the same two points: the JavaScript objects a connection keeps, without native memory and without " +
          "pages the allocators hold but do not use, which make the RSS figure swing from run to run. It is reported beside the target, not instead of it."
        : ""),
    "",
    table(
      [
        "server",
        "connections",
        "RSS start MB",
        "RSS before MB",
        "RSS after MB",
        "KB per connection (after GC)",
        "KB at 1 s, no GC",
        "vs raw ws",
        ...(heapMeasured ? ["JS heap KB per connection", "heap vs raw ws"] : []),
        "connect time s",
        "notes"
      ],
      idle.runs.map((run) => [
        run.repeat !== undefined ? `${label(run.server)} #${run.repeat}` : label(run.server),
        run.connections !== undefined ? n(run.connections) : n(run.requested),
        n(run.rssStartMB, 1),
        n(run.rssBeforeMB, 1),
        n(run.rssAfterMB, 1),
        n(run.perConnectionKB, 2),
        n(run.perConnectionKBAt1s, 2),
        vsRaw(run, run.perConnectionKB, rawAt(run.requested)),
        ...(heapMeasured ? [n(run.perConnectionHeapKB, 2), vsRaw(run, run.perConnectionHeapKB, rawHeapAt(run.requested))] : []),
        n(run.connectS, 1),
        run.skipped !== undefined
          ? `skipped: ${run.skipped}`
          : run.error !== undefined
            ? `error: ${run.error.split("\n")[0].slice(0, 160)}`
            : `${run.clientProcesses} client processes, ${run.sourceAddresses} source address(es)`
      ])
    ),
    ""
  ]
}

const historySection = (r: BenchResults) => {
  const h = r.scenarios.history!
  return [
    "## 4. History",
    "",
    "One room filled through the store's commit path (encrypted bodies), then pages of 50 at the same random positions: REST " +
      "`GET /v1/rooms/:room/messages?before=&limit=50` one at a time, and the raw SQL query for the same rows " +
      "(ciphertext as stored; no HTTP, auth, decryption or JSON).",
    "",
    table(
      ["store", "messages", "load s (msg/s)", "pages", "REST p50 ms", "REST p99 ms", "REST max ms", "raw SQL p50 ms", "raw SQL p99 ms", "REST / raw p99", "notes"],
      h.runs.map((run) => [
        run.store === "postgres" ? "PostgreSQL" : "PGlite",
        n(run.messages),
        run.loadS === undefined ? "-" : `${n(run.loadS, 1)} (${n(run.loadRate)})`,
        n(run.queries),
        ms(run.rest?.p50),
        ms(run.rest?.p99),
        ms(run.rest?.max),
        ms(run.raw?.p50),
        ms(run.raw?.p99),
        run.p99Ratio === undefined ? "-" : `${n(run.p99Ratio, 2)}x`,
        run.error !== undefined
          ? `error: ${run.error.split("\n")[0].slice(0, 160)}`
          : run.store === "pglite"
            ? "raw query in-process (WASM) after the server stopped"
            : run.interleaved === true
              ? "REST and raw pages alternated, page by page"
              : "all REST pages, then all raw pages"
      ])
    ),
    ""
  ]
}

const coldSection = (r: BenchResults) => {
  const c = r.scenarios.coldstart!
  return [
    "## 5. Cold start",
    "",
    "Spawn of `node dist/bundle/node/main.js` (what `npm start` runs) to the first 200 from `/healthz`. " +
      "Where the case lists RSS, the node was then left idle and its VmRSS read at healthy and at the end of the idle time " +
      "(the embedded store runs in the node process, so that is all of its memory).",
    "",
    table(
      ["case", "starts", "p50 ms", "max ms", "each ms", "RSS at healthy MB", "RSS idle MB", "notes"],
      c.cases.map((k) => [
        k.name,
        n(k.startsMs.length),
        ms(k.summary?.p50),
        ms(k.summary?.max),
        k.startsMs.map((v) => n(v)).join(", "),
        k.rssHealthyMb !== undefined ? k.rssHealthyMb.map((v) => n(v, 1)).join(", ") : "-",
        k.rssIdleMb !== undefined ? `${k.rssIdleMb.map((v) => n(v, 1)).join(", ")} (after ${n((k.idleMs ?? 0) / 1000)} s)` : "-",
        k.error !== undefined ? `error: ${k.error.split("\n")[0].slice(0, 160)}` : ""
      ])
    ),
    ""
  ]
}

export const renderMarkdown = (
  r: BenchResults,
  files: { json: string; charts: { fanout?: string; persist?: string }; analysis?: string }
): string => {
  const m = r.machine
  const lines = [
    "# Benchmarks",
    "",
    `<!-- Generated by bench/main.ts from ${files.json}: do not edit; run the bench again. -->`,
    "",
    `Generated from [\`${files.json}\`](${files.json}). **${r.mode}** run${r.mode === "quick" ? " (small sizes: a smoke run of the harness, not the issue's sizes)" : ""}, ` +
      `${r.startedAt} (${n(r.durationS)} s: ${Object.entries(r.scenarioDurationsS).map(([k, v]) => `${k} ${n(v)} s`).join(", ")}).`,
    "",
    "```",
    r.command,
    "```",
    "",
    table(
      ["machine", ""],
      [
        ["CPUs (nproc)", String(m.nproc)],
        ["CPU model", m.cpuModel],
        ["memory", `${n(m.memoryMB)} MB`],
        ["Node.js", m.node],
        ["OS", m.os],
        ["load average at start (1/5/15 min)", m.loadAverageAtStart.join(" / ")],
        ["open-file limit", n(m.fdLimit)],
        ["PostgreSQL", r.postgres === null ? "not used" : `${r.postgres.version} (throw-away, same machine; ${r.postgres.settings.join(", ")})`],
        ...(r.cql !== undefined ? [["CQL server", r.cql]] : []),
        ["client processes", `${r.config.clientProcesses}, on the same machine as the servers (they share the CPUs)`]
      ]
    ),
    "",
    "Every server runs alone in its own process while measured; RSS is VmRSS of that process, CPU its utime+stime over the step " +
      "(100 % = one core; db = the database server's processes: PostgreSQL, or Cassandra for ScyllaDB). Latency percentiles come from log-linear histograms " +
      "(0.8 % buckets) merged across client processes.",
    ""
  ]
  if (r.targets.length > 0) {
    lines.push(
      "## Targets",
      "",
      table(
        ["target", "measured", "ratio / value", "threshold", "met"],
        r.targets.map((t) => [
          t.description,
          t.measured,
          t.value === null ? "-" : n(t.value, 2),
          `${t.kind === "min" ? ">=" : "<="} ${n(t.threshold, t.threshold < 10 ? 1 : 0)}`,
          t.met === null ? "not measured" : t.met ? "yes" : "no"
        ])
      ),
      ""
    )
  }
  if (files.analysis !== undefined) lines.push(files.analysis.trim(), "")
  if (r.config.profile) {
    lines.push(
      "> **Profiled run** (`--profile`): our node ran under the V8 CPU profiler, which slows it; the throughput and latency figures below are not headline figures. Run again without `--profile` for those.",
      ""
    )
  }
  if (r.config.trust !== undefined) lines.push(...trustNotes(r))
  if (r.scenarios.fanout !== undefined) lines.push(...fanoutSection(r, files.charts.fanout))
  if (r.scenarios.persist !== undefined) lines.push(...persistSection(r, files.charts.persist))
  if (r.scenarios.fixed !== undefined) lines.push(...fixedSection(r))
  if (r.scenarios.zipf !== undefined) lines.push(...zipfSection(r))
  if (r.scenarios.storm !== undefined) lines.push(...stormSection(r))
  if (r.scenarios.mixed !== undefined) lines.push(...mixedSection(r))
  if (r.scenarios.cluster !== undefined) lines.push(...clusterSection(r))
  if (r.scenarios.killcheck !== undefined) lines.push(...killSection(r))
  lines.push(...guaranteesSection(r))
  if (r.scenarios.idle !== undefined) lines.push(...idleSection(r))
  if (r.scenarios.history !== undefined) lines.push(...historySection(r))
  if (r.scenarios.coldstart !== undefined) lines.push(...coldSection(r))
  if (r.errors.length > 0) {
    lines.push("## Errors", "", ...r.errors.map((e) => `- ${e.scenario}: ${e.message.split("\n")[0].slice(0, 300)}`), "")
  }
  return lines.join("\n")
}
