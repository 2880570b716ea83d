/**
 * The bench parameters: quick defaults (`npm run bench`, a few minutes at most), full
 * defaults (`--full`, the sizes), and a flag for each, so any run can be narrowed
 * or resized from the command line. `--help` prints this table.
 */
import { parseArgs } from "node:util"
import { isServerName, type ServerName } from "./lib/servers.ts"

export const SCENARIOS = ["fanout", "persist", "fixed", "zipf", "storm", "mixed", "cluster", "killcheck", "idle", "history", "coldstart"] as const
export type ScenarioName = (typeof SCENARIOS)[number]

export interface BenchConfig {
  readonly mode: "quick" | "full"
  readonly scenarios: ReadonlyArray<ScenarioName>
  readonly clientProcesses: number
  readonly stepMs: number
  readonly drainMs: number
  readonly warmupMs: number
  readonly bodyBytes: number
  /** fsync and synchronous_commit on for the throw-away PostgreSQL. */
  readonly pgDurable: boolean
  /** Fan-out and persisted: run our node under the V8 CPU profiler and report where its time went. */
  readonly profile: boolean
  /** Runs of each server in the stepped scenarios, interleaved (A, B, C, A, B, C, ...). */
  readonly repeats: number
  /** Bisection steps after the first failed coarse step, and their length. */
  readonly bisect: number
  readonly fineStepMs: number
  /** Trust thresholds: client-limited above lateP99Ms / clientCpuPct; invalid above outsidePct / stealPct. */
  readonly trust: { readonly lateP99Ms: number; readonly clientCpuPct: number; readonly outsidePct: number; readonly stealPct: number }
  readonly fanout: {
    readonly conns: number
    readonly roomSize: number
    readonly senders: number
    readonly rates: ReadonlyArray<number>
    readonly p99LimitMs: number
    readonly servers: ReadonlyArray<ServerName>
  }
  readonly persist: {
    readonly senders: number
    readonly rooms: number
    readonly rates: ReadonlyArray<number>
    readonly p99LimitMs: number
    readonly servers: ReadonlyArray<ServerName>
  }
  /** Every server at the same moderate rates, rooms of 2, all rates run: CPU per message and latency. */
  readonly fixed: {
    readonly rooms: number
    readonly rates: ReadonlyArray<number>
    readonly stepMs: number
    readonly servers: ReadonlyArray<ServerName>
    /** Runs of each server (interleaved). */
    readonly repeats: number
  }
  /** Many rooms of 2, activity Zipf-distributed over the rooms (exponent s). */
  readonly zipf: {
    readonly rooms: number
    readonly exponent: number
    readonly rates: ReadonlyArray<number>
    readonly p99LimitMs: number
    readonly servers: ReadonlyArray<ServerName>
    readonly repeats: number
  }
  /** Reconnect storm: rooms of 1 sender + perRoom listeners; in step 2 every listener drops and resumes with `since`. */
  readonly storm: {
    readonly rooms: number
    readonly perRoom: number
    readonly rate: number
    readonly dropMs: number
    readonly stepMs: number
    readonly servers: ReadonlyArray<ServerName>
  }
  /** History reads while writes run: rooms of 2 at `rate`; step 1 writes only, step 2 writes and reads. */
  readonly mixed: {
    readonly rooms: number
    readonly rate: number
    readonly readsPerS: number
    readonly stepMs: number
    readonly servers: ReadonlyArray<ServerName>
  }
  /** Two of our nodes on one host behind NATS (ours-cluster2) beside one node, persisted load, rooms of 2. */
  readonly cluster: {
    readonly rooms: number
    readonly rates: ReadonlyArray<number>
    readonly servers: ReadonlyArray<ServerName>
    readonly repeats: number
  }
  /** kill -9 after a burst of acked sends, restart, every acked message must be there. */
  readonly killcheck: {
    readonly rooms: number
    readonly messages: number
    readonly servers: ReadonlyArray<ServerName>
  }
  readonly idle: {
    readonly conns: ReadonlyArray<number>
    readonly roomSize: number
    readonly servers: ReadonlyArray<ServerName>
    /** Runs of each server at each count, interleaved; the target uses the medians. */
    readonly repeats: number
  }
  readonly history: { readonly messages: number; readonly queries: number; readonly batch: number; readonly stores: ReadonlyArray<"postgres" | "pglite"> }
  readonly coldstart: {
    readonly repeats: number
    readonly stores: ReadonlyArray<"postgres" | "pglite">
    /** After each start on an empty PGlite data dir, how long the node idles before its RSS is read again (0: not). */
    readonly idleMs: number
  }
  readonly outDir: string
  /** Where BENCHMARKS.md goes; none when empty. */
  readonly markdown: string
  /** A results file to regenerate the report from, instead of running anything. */
  readonly render?: string
  /** Print the estimated wall time and exit. */
  readonly estimateOnly?: boolean
}

const quick: BenchConfig = {
  mode: "quick",
  scenarios: SCENARIOS,
  clientProcesses: 2,
  stepMs: 1000,
  drainMs: 1500,
  warmupMs: 300,
  bodyBytes: 100,
  pgDurable: true,
  profile: false,
  repeats: 1,
  bisect: 1,
  fineStepMs: 2000,
  trust: { lateP99Ms: 10, clientCpuPct: 85, outsidePct: 15, stealPct: 5 },
  fanout: {
    conns: 200,
    roomSize: 100,
    senders: 10,
    rates: [20, 50, 100, 200, 400, 800],
    p99LimitMs: 100,
    servers: ["ours-postgres", "rawws", "socketio", "socketio-pg"]
  },
  persist: {
    senders: 200,
    rooms: 100,
    rates: [200, 500, 1000, 2000, 4000, 8000],
    p99LimitMs: 50,
    servers: ["ours-pglite", "ours-postgres", "socketio-pg"]
  },
  fixed: { rooms: 100, rates: [100, 250], stepMs: 2000, servers: ["ours-pglite", "ours-postgres", "socketio-pg"], repeats: 1 },
  zipf: { rooms: 500, exponent: 1, rates: [100, 300, 1000], p99LimitMs: 50, servers: ["ours-postgres", "socketio-pg"], repeats: 1 },
  storm: { rooms: 50, perRoom: 4, rate: 200, dropMs: 500, stepMs: 3000, servers: ["ours-postgres"] },
  mixed: { rooms: 100, rate: 200, readsPerS: 50, stepMs: 2000, servers: ["ours-postgres"] },
  cluster: { rooms: 100, rates: [100, 200, 400, 800], servers: ["ours-cluster2", "ours-postgres"], repeats: 1 },
  killcheck: { rooms: 20, messages: 400, servers: ["ours-pglite", "ours-postgres", "socketio-pg"] },
  idle: { conns: [1000], roomSize: 100, servers: ["ours-postgres", "rawws"], repeats: 1 },
  history: { messages: 10_000, queries: 200, batch: 2000, stores: ["postgres", "pglite"] },
  // Quick: the two cases of the issue (empty data dir, the history data dir); full adds PostgreSQL.
  coldstart: { repeats: 1, stores: ["pglite"], idleMs: 5000 },
  outDir: "bench/results",
  markdown: "BENCHMARKS.md"
}

/**
 * The full run, bounded to about 45 minutes on the 2-core machine (bench/estimate.ts prints
 * the estimate at the start): short coarse steps (5 s, rates doubling) find the region of the
 * limit, then bisection steps of 30 s settle it; fan-out and persisted run each server 3 times
 * interleaved, each climbing from the lowest rate. ScyllaDB
 * and dual-write are left out of the default to stay in that time (`--persist-servers
 * ...,ours-scylla,ours-dual` and `--killcheck-servers ...,ours-scylla` add them, and the CQL
 * server with them).
 */
const full: BenchConfig = {
  ...quick,
  mode: "full",
  stepMs: 5000,
  drainMs: 5000,
  warmupMs: 3000,
  repeats: 3,
  bisect: 2,
  fineStepMs: 30_000,
  fanout: {
    ...quick.fanout,
    conns: 2000,
    senders: 100,
    rates: [100, 200, 400, 800, 1600, 3200, 6400, 12_800],
    servers: ["ours-postgres", "rawws", "socketio"]
  },
  persist: {
    ...quick.persist,
    rates: [100, 250, 500, 1000, 2000, 4000, 8000, 16_000, 32_000],
    servers: ["ours-pglite", "ours-postgres", "socketio-pg"]
  },
  // lean-pg (bench/peers/leanPg.ts): what the lean design of issue 12 costs on the machine of the run.
  fixed: { rooms: 100, rates: [250, 500, 1000], stepMs: 8000, servers: ["ours-pglite", "ours-postgres", "socketio-pg", "lean-pg"], repeats: 3 },
  zipf: { rooms: 1000, exponent: 1, rates: [250, 500, 1000, 2000, 4000, 8000], p99LimitMs: 50, servers: ["ours-postgres", "socketio-pg"], repeats: 1 },
  storm: { rooms: 200, perRoom: 10, rate: 500, dropMs: 2000, stepMs: 10_000, servers: ["ours-postgres", "ours-pglite"] },
  mixed: { rooms: 100, rate: 500, readsPerS: 200, stepMs: 10_000, servers: ["ours-postgres", "ours-pglite"] },
  cluster: { rooms: 100, rates: [250, 500, 1000, 2000, 4000], servers: ["ours-cluster2", "ours-postgres"], repeats: 1 },
  killcheck: { rooms: 100, messages: 5000, servers: ["ours-pglite", "ours-postgres", "socketio-pg"] },
  idle: { ...quick.idle, conns: [10_000, 100_000], repeats: 3 },
  history: { ...quick.history, messages: 1_000_000, queries: 1000, batch: 2000 },
  // The idle RSS figure is read one minute after start.
  coldstart: { repeats: 3, stores: ["pglite", "postgres"], idleMs: 60_000 }
}

const FLAGS = {
  full: { type: "boolean", doc: "the issue's sizes (long: tens of minutes)" },
  help: { type: "boolean", doc: "this list" },
  only: { type: "string", doc: `scenarios to run, comma-separated: ${SCENARIOS.join(",")}` },
  clients: { type: "string", doc: "client processes (default 2)" },
  "step-ms": { type: "string", doc: "send time per rate step" },
  "drain-ms": { type: "string", doc: "longest wait for in-flight deliveries after a step" },
  "warmup-ms": { type: "string", doc: "unrecorded first step (0: none)" },
  "body-bytes": { type: "string", doc: "message body size" },
  "pg-fast": { type: "boolean", doc: "PostgreSQL with fsync/synchronous_commit off (as in the tests)" },
  profile: { type: "boolean", doc: "fan-out and persisted: our node under the V8 CPU profiler; the report shows where its time went (a separate run: never for headline figures)" },
  repeats: { type: "string", doc: "runs of each server in fanout and persist, interleaved (quick 1, full 3); the report gives median and range" },
  "fixed-repeats": { type: "string", doc: "fixed-rate table: runs of each server (quick 1, full 3)" },
  "zipf-repeats": { type: "string", doc: "Zipf scenario: runs of each server (quick 1, full 1)" },
  "cluster-repeats": { type: "string", doc: "two nodes behind NATS: runs of each server (quick 1, full 1)" },
  estimate: { type: "boolean", doc: "print the estimated wall time of the run and exit" },
  bisect: { type: "string", doc: "bisection steps after the first failed coarse step (quick 1, full 3)" },
  "fine-step-ms": { type: "string", doc: "length of a bisection step (quick 2000, full 30000)" },
  "late-p99-ms": { type: "string", doc: "a step is client-limited when p99 send lateness exceeds this (default 10)" },
  "client-cpu-pct": { type: "string", doc: "... or a client process used more than this % of one core (default 85)" },
  "outside-pct": { type: "string", doc: "a step is invalid when processes outside the run used more than this % of all CPUs (default 15)" },
  "steal-pct": { type: "string", doc: "... or steal exceeded this % of all CPUs (default 5)" },
  "fixed-rates": { type: "string", doc: "fixed-rate table: rates, msg/s, comma-separated" },
  "fixed-step-ms": { type: "string", doc: "fixed-rate table: time per rate" },
  "fixed-servers": { type: "string", doc: "fixed-rate table: servers" },
  "zipf-rooms": { type: "string", doc: "Zipf scenario: rooms of 2" },
  "zipf-exponent": { type: "string", doc: "Zipf scenario: exponent s (room of rank r gets 1/r^s of the activity)" },
  "zipf-rates": { type: "string", doc: "Zipf scenario: steps, total msg/s" },
  "zipf-servers": { type: "string", doc: "Zipf scenario: servers" },
  "storm-rooms": { type: "string", doc: "reconnect storm: rooms (one sender each)" },
  "storm-per-room": { type: "string", doc: "reconnect storm: listeners per room that drop and resume (rooms x this = the storm's size)" },
  "storm-rate": { type: "string", doc: "reconnect storm: msg/s sent throughout" },
  "storm-drop-ms": { type: "string", doc: "reconnect storm: how long the listeners stay away" },
  "storm-servers": { type: "string", doc: "reconnect storm: servers (ours-* only: resume is our protocol's)" },
  "mixed-rate": { type: "string", doc: "history while writing: msg/s" },
  "mixed-reads": { type: "string", doc: "history while writing: REST history pages per second" },
  "mixed-servers": { type: "string", doc: "history while writing: servers (ours-* only)" },
  "cluster-rates": { type: "string", doc: "two nodes behind NATS: steps, msg/s" },
  "cluster-servers": { type: "string", doc: "two nodes behind NATS: servers (default ours-cluster2,ours-postgres)" },
  "killcheck-messages": { type: "string", doc: "kill -9 check: acked sends before the kill" },
  "killcheck-servers": { type: "string", doc: "kill -9 check: persisted servers" },
  "fanout-conns": { type: "string", doc: "fan-out connections" },
  "fanout-room-size": { type: "string", doc: "fan-out room size" },
  "fanout-senders": { type: "string", doc: "fan-out sending connections" },
  "fanout-rates": { type: "string", doc: "fan-out steps, total msg/s, comma-separated" },
  "fanout-p99-ms": { type: "string", doc: "fan-out p99 end-to-end limit" },
  "fanout-servers": { type: "string", doc: "servers, comma-separated: ours-pglite,ours-postgres,ours-scylla,ours-dual,rawws,socketio,socketio-pg" },
  "persist-senders": { type: "string", doc: "persisted-throughput senders" },
  "persist-rooms": { type: "string", doc: "persisted-throughput rooms" },
  "persist-rates": { type: "string", doc: "persisted-throughput steps, total msg/s" },
  "persist-p99-ms": { type: "string", doc: "persisted-throughput p99 ack limit" },
  "persist-servers": { type: "string", doc: "servers, comma-separated" },
  "idle-conns": { type: "string", doc: "idle connection counts, comma-separated" },
  "idle-servers": { type: "string", doc: "servers, comma-separated" },
  "idle-repeats": { type: "string", doc: "idle connections: runs of each server at each count, interleaved (quick 1, full 3); the target uses the medians" },
  "history-messages": { type: "string", doc: "messages in the history room" },
  "history-queries": { type: "string", doc: "pages fetched (REST and raw SQL at each)" },
  "history-stores": { type: "string", doc: "postgres,pglite" },
  "coldstart-repeats": { type: "string", doc: "starts per case" },
  "coldstart-stores": { type: "string", doc: "pglite,postgres" },
  "coldstart-idle-ms": { type: "string", doc: "idle time after each empty-PGlite start before its RSS is read (quick 5000, full 60000; 0: none)" },
  out: { type: "string", doc: "results directory (default bench/results)" },
  markdown: { type: "string", doc: "generated report path (default BENCHMARKS.md; '' for none)" },
  render: { type: "string", doc: "run nothing: regenerate the report and charts from this results JSON" }
} as const

export const usage = () =>
  [
    "npm run bench [-- flags]",
    "",
    ...Object.entries(FLAGS).map(([k, v]) => `  --${k.padEnd(20)} ${v.doc}`),
    "",
    `quick defaults: ${JSON.stringify(quick)}`,
    `full overrides: ${JSON.stringify({ ...full, scenarios: undefined, mode: undefined, outDir: undefined, markdown: undefined })}`
  ].join("\n")

const int = (flag: string, s: string | undefined, fallback: number): number => {
  if (s === undefined) return fallback
  const n = Number(s)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} must be a non-negative integer, got ${s}`)
  return n
}

const ints = (flag: string, s: string | undefined, fallback: ReadonlyArray<number>): ReadonlyArray<number> =>
  s === undefined ? fallback : s.split(",").map((x) => int(flag, x.trim(), 0))

const servers = (flag: string, s: string | undefined, fallback: ReadonlyArray<ServerName>): ReadonlyArray<ServerName> => {
  if (s === undefined) return fallback
  const names = s.split(",").map((x) => x.trim())
  for (const n of names) if (!isServerName(n)) throw new Error(`--${flag}: unknown server ${n}`)
  return names as Array<ServerName>
}

export const parseConfig = (argv: ReadonlyArray<string>): BenchConfig | "help" => {
  const options = Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { type: v.type }])) as {
    [K in keyof typeof FLAGS]: { type: (typeof FLAGS)[K]["type"] }
  }
  const { values: v } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
  if (v.help) return "help"
  const base = v.full ? full : quick
  const only = v.only?.split(",").map((s) => s.trim())
  for (const s of only ?? []) if (!(SCENARIOS as ReadonlyArray<string>).includes(s)) throw new Error(`--only: unknown scenario ${s}`)
  const stores = (flag: "history-stores" | "coldstart-stores", fallback: ReadonlyArray<"postgres" | "pglite">) => {
    const list = v[flag]?.split(",").map((s) => s.trim())
    for (const s of list ?? []) if (s !== "postgres" && s !== "pglite") throw new Error(`--${flag}: unknown store ${s}`)
    return (list as Array<"postgres" | "pglite"> | undefined) ?? fallback
  }
  return {
    ...base,
    scenarios: (only as Array<ScenarioName> | undefined) ?? base.scenarios,
    clientProcesses: Math.max(1, int("clients", v.clients, base.clientProcesses)),
    stepMs: int("step-ms", v["step-ms"], base.stepMs),
    drainMs: int("drain-ms", v["drain-ms"], base.drainMs),
    warmupMs: int("warmup-ms", v["warmup-ms"], base.warmupMs),
    bodyBytes: Math.max(32, int("body-bytes", v["body-bytes"], base.bodyBytes)),
    pgDurable: v["pg-fast"] ? false : base.pgDurable,
    profile: v.profile === true,
    repeats: Math.max(1, int("repeats", v.repeats, base.repeats)),
    bisect: int("bisect", v.bisect, base.bisect),
    fineStepMs: int("fine-step-ms", v["fine-step-ms"], base.fineStepMs),
    trust: {
      lateP99Ms: int("late-p99-ms", v["late-p99-ms"], base.trust.lateP99Ms),
      clientCpuPct: int("client-cpu-pct", v["client-cpu-pct"], base.trust.clientCpuPct),
      outsidePct: int("outside-pct", v["outside-pct"], base.trust.outsidePct),
      stealPct: int("steal-pct", v["steal-pct"], base.trust.stealPct)
    },
    fixed: {
      ...base.fixed,
      rates: ints("fixed-rates", v["fixed-rates"], base.fixed.rates),
      stepMs: int("fixed-step-ms", v["fixed-step-ms"], base.fixed.stepMs),
      servers: servers("fixed-servers", v["fixed-servers"], base.fixed.servers),
      repeats: Math.max(1, int("fixed-repeats", v["fixed-repeats"], base.fixed.repeats))
    },
    zipf: {
      ...base.zipf,
      rooms: Math.max(2, int("zipf-rooms", v["zipf-rooms"], base.zipf.rooms)),
      exponent: v["zipf-exponent"] === undefined ? base.zipf.exponent : Number(v["zipf-exponent"]),
      rates: ints("zipf-rates", v["zipf-rates"], base.zipf.rates),
      servers: servers("zipf-servers", v["zipf-servers"], base.zipf.servers),
      repeats: Math.max(1, int("zipf-repeats", v["zipf-repeats"], base.zipf.repeats))
    },
    storm: {
      ...base.storm,
      rooms: Math.max(1, int("storm-rooms", v["storm-rooms"], base.storm.rooms)),
      perRoom: Math.max(1, int("storm-per-room", v["storm-per-room"], base.storm.perRoom)),
      rate: Math.max(1, int("storm-rate", v["storm-rate"], base.storm.rate)),
      dropMs: int("storm-drop-ms", v["storm-drop-ms"], base.storm.dropMs),
      servers: servers("storm-servers", v["storm-servers"], base.storm.servers)
    },
    mixed: {
      ...base.mixed,
      rate: Math.max(1, int("mixed-rate", v["mixed-rate"], base.mixed.rate)),
      readsPerS: int("mixed-reads", v["mixed-reads"], base.mixed.readsPerS),
      servers: servers("mixed-servers", v["mixed-servers"], base.mixed.servers)
    },
    cluster: {
      ...base.cluster,
      rates: ints("cluster-rates", v["cluster-rates"], base.cluster.rates),
      servers: servers("cluster-servers", v["cluster-servers"], base.cluster.servers),
      repeats: Math.max(1, int("cluster-repeats", v["cluster-repeats"], base.cluster.repeats))
    },
    killcheck: {
      ...base.killcheck,
      messages: Math.max(1, int("killcheck-messages", v["killcheck-messages"], base.killcheck.messages)),
      servers: servers("killcheck-servers", v["killcheck-servers"], base.killcheck.servers)
    },
    fanout: {
      conns: int("fanout-conns", v["fanout-conns"], base.fanout.conns),
      roomSize: Math.max(1, int("fanout-room-size", v["fanout-room-size"], base.fanout.roomSize)),
      senders: Math.max(1, int("fanout-senders", v["fanout-senders"], base.fanout.senders)),
      rates: ints("fanout-rates", v["fanout-rates"], base.fanout.rates),
      p99LimitMs: int("fanout-p99-ms", v["fanout-p99-ms"], base.fanout.p99LimitMs),
      servers: servers("fanout-servers", v["fanout-servers"], base.fanout.servers)
    },
    persist: {
      senders: Math.max(1, int("persist-senders", v["persist-senders"], base.persist.senders)),
      rooms: Math.max(1, int("persist-rooms", v["persist-rooms"], base.persist.rooms)),
      rates: ints("persist-rates", v["persist-rates"], base.persist.rates),
      p99LimitMs: int("persist-p99-ms", v["persist-p99-ms"], base.persist.p99LimitMs),
      servers: servers("persist-servers", v["persist-servers"], base.persist.servers)
    },
    idle: {
      ...base.idle,
      conns: ints("idle-conns", v["idle-conns"], base.idle.conns),
      servers: servers("idle-servers", v["idle-servers"], base.idle.servers),
      repeats: Math.max(1, int("idle-repeats", v["idle-repeats"], base.idle.repeats))
    },
    history: {
      ...base.history,
      messages: Math.max(100, int("history-messages", v["history-messages"], base.history.messages)),
      queries: Math.max(1, int("history-queries", v["history-queries"], base.history.queries)),
      stores: stores("history-stores", base.history.stores)
    },
    coldstart: {
      repeats: Math.max(1, int("coldstart-repeats", v["coldstart-repeats"], base.coldstart.repeats)),
      stores: stores("coldstart-stores", base.coldstart.stores),
      idleMs: Math.max(0, int("coldstart-idle-ms", v["coldstart-idle-ms"], base.coldstart.idleMs))
    },
    outDir: v.out ?? base.outDir,
    markdown: v.markdown ?? base.markdown,
    ...(v.render !== undefined ? { render: v.render } : {}),
    ...(v.estimate === true ? { estimateOnly: true } : {})
  }
}
