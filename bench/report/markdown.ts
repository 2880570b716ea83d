/**
 * BENCHMARKS.md, generated from one results file: machine, command, the targets and a
 * table per scenario with this project and the peers side by side. Nothing in it is
 * written by hand, so it always says what the run measured and nothing more.
 */
import type { ServerRun, StepReport } from "../scenarios/stepped.ts"
import type { LoadResult } from "../scenarios/load.ts"
import type { BenchResults } from "./results.ts"

const LABELS: Record<string, string> = {
  "ours-postgres": "this project (PostgreSQL)",
  "ours-pglite": "this project (PGlite)",
  "ours-scylla": "this project (ScyllaDB)",
  "ours-dual": "this project (dual-write)",
  rawws: "raw ws",
  socketio: "Socket.IO",
  "socketio-pg": "Socket.IO + INSERT"
}
const label = (s: string) => LABELS[s] ?? s

const n = (v: number | null | undefined, digits = 0): string =>
  v === null || v === undefined || !Number.isFinite(v) ? "-" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const ms = (v: number | null | undefined) => (v === null || v === undefined ? "-" : n(v, 2))
const x = (v: number | null) => (v === null ? "-" : `${n(v, 2)}x`)
const pct = (v: number) => `${n(v * 100, v > 0 && v < 0.001 ? 4 : 2)} %`

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")

const bestOf = (load: LoadResult, server: string, metric: "deliveriesPerS" | "ackedPerS") => {
  const run = load.runs.find((r) => r.server === server)
  return run === undefined ? null : run.best === null ? 0 : (run.best[metric] ?? 0)
}

const ratioTo = (value: number, other: number | null) => (other === null || other === 0 ? null : value / other)

const stepRows = (runs: ReadonlyArray<ServerRun>, kind: "fanout" | "persist") =>
  runs.flatMap((run) =>
    run.steps.map((s: StepReport) => [
      label(run.server),
      n(s.targetRate),
      n(s.sentRate),
      kind === "fanout" ? n(s.deliveriesPerS) : n(s.ackedPerS),
      ms(s.e2e.p50),
      ms(s.e2e.p99),
      ms(s.e2e.max),
      s.ack === null ? "-" : `${ms(s.ack.p50)} / ${ms(s.ack.p99)}`,
      `${n(s.lost)} (${pct(s.loss)})`,
      n(s.server.cpuPct) + (s.db === null ? "" : ` (db ${n(s.db.cpuPct)})`),
      n(s.server.rssPeakMB, 1),
      s.clients.elu.map((e) => n(e, 2)).join(" / "),
      s.held ? "yes" : `no: ${s.failedBecause.join("; ")}`
    ])
  )

const STEP_HEAD = [
  "server",
  "target msg/s",
  "sent msg/s",
  "",
  "e2e p50 ms",
  "e2e p99 ms",
  "e2e max ms",
  "ack p50 / p99 ms",
  "lost",
  "server CPU % (db)",
  "RSS peak MB",
  "client ELU",
  "held"
]

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
        "`writev`/`writeBuffer`: socket write system calls (WebSocket frames, PostgreSQL protocol); `effect`: the Effect runtime (fibers, scheduler).",
      "",
      table(["area", "self", "function", "self"], rows),
      "",
      "</details>",
      ""
    ]
  })

const fanoutSection = (r: BenchResults, chart: string | undefined) => {
  const f = r.scenarios.fanout!
  const raw = bestOf(f, "rawws", "deliveriesPerS")
  const sio = bestOf(f, "socketio", "deliveriesPerS")
  const p = f.params
  return [
    "## 1. Fan-out",
    "",
    `${p.rooms} rooms of ${p.roomSize} connections (${n(p.rooms * p.roomSize)} in all), ${p.senders} senders, ${p.bodyBytes}-byte bodies, ` +
      `${p.clientProcesses} client processes; steps of ${p.stepMs} ms at ${p.rates.join(", ")} msg/s. A step holds while p99 send-to-delivery ` +
      `stays <= ${p.limitMs} ms with no loss. Deliveries count every subscriber, the sender included.`,
    "",
    table(
      ["server", "highest step held (msg/s)", "deliveries/s", "e2e p50 ms", "e2e p99 ms", "e2e max ms", "server CPU %", "RSS idle / under load MB", "vs raw ws", "vs Socket.IO", "stopped because"],
      f.runs.map((run) => {
        const b = run.best
        const d = b?.deliveriesPerS ?? 0
        return [
          label(run.server),
          b === null ? "none" : n(b.targetRate),
          n(d),
          ms(b?.e2e.p50),
          ms(b?.e2e.p99),
          ms(b?.e2e.max),
          n(b?.server.cpuPct),
          `${n(run.rssIdleMB, 1)} / ${n(b?.server.rssPeakMB, 1)}`,
          run.server === "rawws" ? "1.00x" : x(ratioTo(d, raw)),
          run.server === "socketio" ? "1.00x" : x(ratioTo(d, sio)),
          run.error !== undefined ? `error: ${run.error.split("\n")[0].slice(0, 160)}` : run.stoppedBecause
        ]
      })
    ),
    "",
    ...(chart !== undefined ? [`![fan-out: deliveries/s against p99 latency](${chart})`, ""] : []),
    "<details><summary>every step</summary>",
    "",
    table(STEP_HEAD.map((h) => (h === "" ? "deliveries/s" : h)), stepRows(f.runs, "fanout")),
    "",
    "</details>",
    "",
    ...profileBlock(f.runs)
  ]
}

const persistSection = (r: BenchResults, chart: string | undefined) => {
  const f = r.scenarios.persist!
  const sioPg = bestOf(f, "socketio-pg", "ackedPerS")
  const p = f.params
  return [
    "## 2. Persisted throughput",
    "",
    `${p.senders} senders over ${p.rooms} rooms (rooms of ${p.roomSize}), every message acked once committed; steps of ${p.stepMs} ms at ` +
      `${p.rates.join(", ")} msg/s. A step holds while p99 send-to-ack stays <= ${p.limitMs} ms with nothing lost or unacked.`,
    "",
    table(
      ["server", "highest step held (msg/s)", "acked msg/s", "ack p50 ms", "ack p99 ms", "e2e p99 ms", "server CPU %", "db CPU %", "RSS idle / under load MB", "vs Socket.IO + INSERT", "stopped because"],
      f.runs.map((run) => {
        const b = run.best
        const a = b?.ackedPerS ?? 0
        return [
          label(run.server),
          b === null ? "none" : n(b.targetRate),
          n(a),
          ms(b?.ack?.p50),
          ms(b?.ack?.p99),
          ms(b?.e2e.p99),
          n(b?.server.cpuPct),
          b?.db === null || b === null ? "-" : n(b.db.cpuPct),
          `${n(run.rssIdleMB, 1)} / ${n(b?.server.rssPeakMB, 1)}`,
          run.server === "socketio-pg" ? "1.00x" : x(ratioTo(a, sioPg)),
          run.error !== undefined ? `error: ${run.error.split("\n")[0].slice(0, 160)}` : run.stoppedBecause
        ]
      })
    ),
    "",
    ...(chart !== undefined ? [`![persisted: acked msg/s against p99 ack latency](${chart})`, ""] : []),
    "<details><summary>every step</summary>",
    "",
    table(STEP_HEAD.map((h) => (h === "" ? "acked/s" : h)), stepRows(f.runs, "persist")),
    "",
    "</details>",
    "",
    ...profileBlock(f.runs)
  ]
}

const idleSection = (r: BenchResults) => {
  const idle = r.scenarios.idle!
  const rawAt = (k: number) => idle.runs.find((x) => x.server === "rawws" && x.requested === k)?.perConnectionKB ?? null
  return [
    "## 3. Idle connections",
    "",
    `Connections each authenticated (ours) and subscribed to one room of ${idle.roomSize}; memory per connection is the server's RSS growth ` +
      `from "rooms exist, nobody connected" to "all connected", each read after a full garbage collection in the server (SIGUSR2 to a ` +
      `preloaded handler, bench/lib/gcOnSignal.ts, in every server alike), divided by the connections: what a connection keeps (the ratio uses this figure). ` +
      `"At 1 s, no GC" is the growth one second after the last connection without that collection, with the garbage of connecting still on the heap. Open-file limit: ${n(idle.fdLimit)}.`,
    "",
    table(
      ["server", "connections", "RSS start MB", "RSS before MB", "RSS after MB", "KB per connection (after GC)", "KB at 1 s, no GC", "vs raw ws", "connect time s", "notes"],
      idle.runs.map((run) => [
        label(run.server),
        run.connections !== undefined ? n(run.connections) : n(run.requested),
        n(run.rssStartMB, 1),
        n(run.rssBeforeMB, 1),
        n(run.rssAfterMB, 1),
        n(run.perConnectionKB, 2),
        n(run.perConnectionKBAt1s, 2),
        run.server === "rawws" || run.perConnectionKB === undefined ? (run.server === "rawws" ? "1.00x" : "-") : x(ratioTo(run.perConnectionKB, rawAt(run.requested))),
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
      "`GET /v1/rooms/:room/messages?before=&limit=50` one at a time, then the raw SQL query for the same rows " +
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
            : ""
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
    "Spawn of `node dist/src/main.node.js` (what `npm start` runs) to the first 200 from `/healthz`.",
    "",
    table(
      ["case", "starts", "p50 ms", "max ms", "each ms", "notes"],
      c.cases.map((k) => [
        k.name,
        n(k.startsMs.length),
        ms(k.summary?.p50),
        ms(k.summary?.max),
        k.startsMs.map((v) => n(v)).join(", "),
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
      "(100 % = one core; db = the database server's processes: PostgreSQL, or Cassandra for ScyllaDB). Client ELU is each client process's event-loop utilisation over the " +
      "step: near 1.00 the load generator, not the server, was the limit. Latency percentiles come from log-linear histograms " +
      "(0.8 % buckets) merged across client processes.",
    ""
  ]
  if (r.targets.length > 0) {
    lines.push(
      "## Targets (issue #5)",
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
  if (r.scenarios.fanout !== undefined) lines.push(...fanoutSection(r, files.charts.fanout))
  if (r.scenarios.persist !== undefined) lines.push(...persistSection(r, files.charts.persist))
  if (r.scenarios.idle !== undefined) lines.push(...idleSection(r))
  if (r.scenarios.history !== undefined) lines.push(...historySection(r))
  if (r.scenarios.coldstart !== undefined) lines.push(...coldSection(r))
  if (r.errors.length > 0) {
    lines.push("## Errors", "", ...r.errors.map((e) => `- ${e.scenario}: ${e.message.split("\n")[0].slice(0, 300)}`), "")
  }
  return lines.join("\n")
}
