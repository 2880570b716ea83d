/**
 * `npm run bench` (quick) and `npm run bench -- --full`: runs the scenarios in order against
 * this project's node and the peers (bench/peers/), writes bench/results/<timestamp>.json
 * (and latest.json), the charts next to it, and generates BENCHMARKS.md from that JSON.
 * `npm run bench -- --help` lists every flag; `--render <json>` only regenerates the report.
 * Only loopback addresses are used.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join, relative, resolve } from "node:path"
import { parseConfig, usage, type BenchConfig } from "./config.ts"
import { describeEstimate, estimate } from "./estimate.ts"
import { ensureBuilt } from "./lib/build.ts"
import { stopDiskProbe } from "./lib/diskProbe.ts"
import { ROOT } from "./lib/children.ts"
import { machineFacts } from "./lib/machine.ts"
import { startBenchPostgres, type BenchPostgres } from "./lib/postgres.ts"
import { needsCql, needsPg, pauseCql, resumeCql, useCqlHost } from "./lib/servers.ts"
import { cassandraVersion, startCassandra, type RunningCassandra } from "../scripts/cassandra/server.ts"
import { renderChart } from "./report/chart.ts"
import { renderMarkdown } from "./report/markdown.ts"
import type { BenchResults } from "./report/results.ts"
import { computeTargets } from "./report/targets.ts"
import { runColdStart } from "./scenarios/coldstart.ts"
import { runHistory, type HistoryData } from "./scenarios/history.ts"
import { runIdle } from "./scenarios/idle.ts"
import { runKillCheck } from "./scenarios/killcheck.ts"
import { runCluster, runFanout, runFixed, runMixed, runPersist, runStorm, runZipf } from "./scenarios/load.ts"

const log = (line: string) => process.stderr.write(`${line}\n`)

const commandLine = (argv: ReadonlyArray<string>) =>
  process.env.npm_lifecycle_event === "bench"
    ? `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`
    : `node --import tsx bench/main.ts ${argv.join(" ")}`.trim()

/** What the report says of the CQL server: Cassandra's version, one node, same machine. */
const cassandraVersionOf = async (c: RunningCassandra) =>
  `Apache Cassandra ${cassandraVersion()} (standing in for ScyllaDB; throw-away, one node, same machine, ${c.contactPoint.split(":")[0]}; keyspace per server, replication 1, consistency ONE)`

const needsCqlServer = (cfg: BenchConfig) =>
  (cfg.scenarios.includes("fanout") && cfg.fanout.servers.some(needsCql)) ||
  (cfg.scenarios.includes("persist") && cfg.persist.servers.some(needsCql)) ||
  (cfg.scenarios.includes("fixed") && cfg.fixed.servers.some(needsCql)) ||
  (cfg.scenarios.includes("zipf") && cfg.zipf.servers.some(needsCql)) ||
  (cfg.scenarios.includes("killcheck") && cfg.killcheck.servers.some(needsCql)) ||
  (cfg.scenarios.includes("storm") && cfg.storm.servers.some(needsCql)) ||
  (cfg.scenarios.includes("mixed") && cfg.mixed.servers.some(needsCql)) ||
  (cfg.scenarios.includes("cluster") && cfg.cluster.servers.some(needsCql))

const needsPostgres = (cfg: BenchConfig) =>
  cfg.scenarios.some(
    (s) =>
      (s === "fanout" && cfg.fanout.servers.some(needsPg)) ||
      (s === "persist" && cfg.persist.servers.some(needsPg)) ||
      (s === "fixed" && cfg.fixed.servers.some(needsPg)) ||
      (s === "zipf" && cfg.zipf.servers.some(needsPg)) ||
      (s === "killcheck" && cfg.killcheck.servers.some(needsPg)) ||
      (s === "storm" && cfg.storm.servers.some(needsPg)) ||
      (s === "mixed" && cfg.mixed.servers.some(needsPg)) ||
      (s === "cluster" && cfg.cluster.servers.some(needsPg)) ||
      (s === "idle" && cfg.idle.servers.includes("ours-postgres")) ||
      (s === "history" && cfg.history.stores.includes("postgres")) ||
      (s === "coldstart" && cfg.coldstart.stores.includes("postgres"))
  )

const runBench = async (cfg: BenchConfig, argv: ReadonlyArray<string>): Promise<BenchResults> => {
  const started = new Date()
  const t0 = performance.now()
  const machine = machineFacts()
  log(`bench ${cfg.mode}: ${cfg.scenarios.join(", ")} on ${machine.nproc} CPUs (${machine.cpuModel}), load ${machine.loadAverageAtStart.join(" ")}`)
  log(describeEstimate(estimate(cfg)))
  let pg: BenchPostgres | undefined
  let cql: RunningCassandra | undefined
  let cqlInfo: string | undefined
  const scenarios: { -readonly [K in keyof BenchResults["scenarios"]]: BenchResults["scenarios"][K] } = {}
  const errors: Array<{ scenario: string; message: string }> = []
  const scenarioDurationsS: Record<string, number> = {}
  let historyData: HistoryData | undefined
  try {
    // Every measured server and client runs compiled (dist/ and bench/.build/).
    await ensureBuilt(log)
    if (needsPostgres(cfg)) {
      log(`starting PostgreSQL (${cfg.pgDurable ? "durable" : "fsync off"})`)
      pg = await startBenchPostgres({ durable: cfg.pgDurable })
    }
    if (needsCqlServer(cfg)) {
      log("starting the CQL server (Apache Cassandra standing in for ScyllaDB; the first run downloads it)")
      cql = await startCassandra({ heap: "1g", log: (line) => log(`  [cassandra] ${line}`) })
      cqlInfo = await cassandraVersionOf(cql)
      useCqlHost({ contactPoint: cql.contactPoint, pid: cql.pid })
      // Paused until a server under test needs it (bench/lib/servers.ts).
      pauseCql()
    }
    for (const scenario of cfg.scenarios) {
      const s0 = performance.now()
      try {
        switch (scenario) {
          case "fanout":
            scenarios.fanout = await runFanout(cfg, pg, log)
            break
          case "persist":
            scenarios.persist = await runPersist(cfg, pg, log)
            break
          case "fixed":
            scenarios.fixed = await runFixed(cfg, pg, log)
            break
          case "zipf":
            scenarios.zipf = await runZipf(cfg, pg, log)
            break
          case "storm":
            scenarios.storm = await runStorm(cfg, pg, log)
            break
          case "mixed":
            scenarios.mixed = await runMixed(cfg, pg, log)
            break
          case "cluster":
            scenarios.cluster = await runCluster(cfg, pg, log)
            break
          case "killcheck":
            scenarios.killcheck = await runKillCheck(cfg, pg, log)
            break
          case "idle":
            scenarios.idle = await runIdle(cfg, pg, log)
            break
          case "history": {
            const h = await runHistory(cfg, pg, log)
            scenarios.history = { runs: h.runs }
            historyData = h.data
            break
          }
          case "coldstart":
            scenarios.coldstart = await runColdStart(cfg, pg, historyData, log)
            break
        }
      } catch (e) {
        const message = e instanceof Error ? (e.stack ?? e.message) : String(e)
        log(`[${scenario}] failed: ${message}`)
        errors.push({ scenario, message: message.slice(0, 4000) })
      }
      scenarioDurationsS[scenario] = Math.round(performance.now() - s0) / 1000
    }
  } finally {
    if (historyData?.pgliteDir !== undefined) rmSync(historyData.pgliteDir, { recursive: true, force: true })
    await pg?.stop()
    resumeCql()
    useCqlHost(undefined)
    await cql?.stop()
    await stopDiskProbe()
  }
  return {
    version: 1,
    mode: cfg.mode,
    command: commandLine(argv),
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationS: Math.round(performance.now() - t0) / 1000,
    scenarioDurationsS,
    machine,
    postgres: pg === undefined ? null : { version: pg.version, settings: pg.settings },
    ...(cqlInfo !== undefined ? { cql: cqlInfo } : {}),
    config: cfg,
    scenarios,
    targets: computeTargets(scenarios),
    errors
  }
}

/** Charts next to the JSON (`<stamp>-fanout.svg`, `<stamp>-persist.svg`) and BENCHMARKS.md. */
const writeReport = (results: BenchResults, jsonPath: string, markdown: string) => {
  const stamp = basename(jsonPath, ".json")
  const dir = dirname(jsonPath)
  const charts: { fanout?: string; persist?: string } = {}
  const { fanout, persist } = results.scenarios
  if (fanout !== undefined) {
    const file = join(dir, `${stamp}-fanout.svg`)
    writeFileSync(
      file,
      renderChart(fanout, {
        title: "Fan-out: deliveries/s against p99 send-to-delivery latency",
        x: "deliveriesPerS",
        xLabel: "deliveries per second",
        y: "e2e",
        yLabel: "p99 latency, ms (log)",
        limitMs: fanout.params.limitMs
      })
    )
    charts.fanout = relative(ROOT, file)
  }
  if (persist !== undefined) {
    const file = join(dir, `${stamp}-persist.svg`)
    writeFileSync(
      file,
      renderChart(persist, {
        title: "Persisted: acked msg/s against p99 send-to-ack latency",
        x: "ackedPerS",
        xLabel: "acked messages per second",
        y: "ack",
        yLabel: "p99 ack latency, ms (log)",
        limitMs: persist.params.limitMs
      })
    )
    charts.persist = relative(ROOT, file)
  }
  if (markdown !== "") {
    const md = resolve(ROOT, markdown)
    // The hand-written reading of the figures (bench/analysis.md) goes in only for a full run:
    // it discusses the full run's numbers, which a quick run does not reproduce.
    const analysisPath = join(ROOT, "bench", "analysis.md")
    const analysis = results.mode === "full" && existsSync(analysisPath) ? readFileSync(analysisPath, "utf8") : undefined
    writeFileSync(md, renderMarkdown(results, { json: relative(ROOT, jsonPath), charts, ...(analysis !== undefined ? { analysis } : {}) }))
    log(`report: ${relative(ROOT, md)}`)
  }
}

const main = async () => {
  const argv = process.argv.slice(2)
  const cfg = parseConfig(argv)
  if (cfg === "help") {
    process.stdout.write(`${usage()}\n`)
    return
  }
  if (cfg.estimateOnly === true) {
    process.stdout.write(`${describeEstimate(estimate(cfg))}\n`)
    return
  }
  if (cfg.render !== undefined) {
    const jsonPath = resolve(ROOT, cfg.render)
    const results = JSON.parse(readFileSync(jsonPath, "utf8")) as BenchResults
    // Targets are judged again with the current rules (trusted runs only, medians).
    writeReport({ ...results, targets: computeTargets(results.scenarios) }, jsonPath, cfg.markdown)
    return
  }
  const results = await runBench(cfg, argv)
  const outDir = resolve(ROOT, cfg.outDir)
  mkdirSync(outDir, { recursive: true })
  const jsonPath = join(outDir, `${results.startedAt.replace(/[:.]/g, "-")}.json`)
  const json = `${JSON.stringify(results, null, 2)}\n`
  writeFileSync(jsonPath, json)
  writeFileSync(join(outDir, "latest.json"), json)
  log(`results: ${relative(ROOT, jsonPath)}`)
  writeReport(results, jsonPath, cfg.markdown)
  for (const t of results.targets) {
    log(`target ${t.id}: ${t.measured} -> ${t.value ?? "-"} (${t.kind === "min" ? ">=" : "<="} ${t.threshold}): ${t.met === null ? "not measured" : t.met ? "met" : "not met"}`)
  }
  log(`done in ${results.durationS} s`)
}

main().then(
  () => process.exit(0),
  (e) => {
    log(e instanceof Error ? (e.stack ?? e.message) : String(e))
    process.exit(1)
  }
)
