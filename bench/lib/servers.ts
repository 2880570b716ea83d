/**
 * The servers under test, each a child process of its own so that RSS and CPU are read
 * per server process: this project's node (`node dist/bundle/node/main.js`, what `npm start`
 * runs) and the peers under bench/peers/, bundled to bench/.build/ (./build.ts). Every
 * server runs as compiled JavaScript: no TS loader in any measured process.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as delay } from "node:timers/promises"
import { compiled, OURS_ENTRY, OURS_UNBUNDLED_ENTRY } from "./build.ts"
import { freePort, ROOT, stopChild, tail, track } from "./children.ts"
import { cpuTicks, treeCpuTicks } from "./procstat.ts"

export const SERVER_NAMES = ["ours-pglite", "ours-postgres", "ours-scylla", "ours-dual", "ours-cluster2", "rawws", "socketio", "socketio-pg", "lean-pg"] as const
export type ServerName = (typeof SERVER_NAMES)[number]
/** The wire protocol a client adapter speaks (bench/client/adapters.ts). */
export type Protocol = "ours" | "rawws" | "socketio" | "lean"

export const protocolOf = (name: ServerName): Protocol =>
  name.startsWith("ours") ? "ours" : name === "rawws" ? "rawws" : name === "lean-pg" ? "lean" : "socketio"

export const isServerName = (s: string): s is ServerName => (SERVER_NAMES as ReadonlyArray<string>).includes(s)

/** HS256 secret and master key of every bench node (the data is thrown away). */
export const BENCH_SECRET = "bench-secret-not-for-production-0123456789"
export const BENCH_MASTER_KEY_HEX = "42".repeat(32)

/** Per-user send limits raised far above any step, so the bench measures the server, not the limiter. */
const UNLIMITED_SENDS = "1000000"

/** Where PostgreSQL-backed servers get their databases: the bench's server, or the tests'. */
export interface DatabaseHost {
  /** Creates an empty database and answers its URL. */
  readonly createDatabase: (name: string) => Promise<string>
  /** The postmaster, when known: its CPU (and its backends') is reported as the database's. */
  readonly pid?: number
}

const dbCpu = (pg: DatabaseHost | undefined) =>
  pg?.pid !== undefined ? { dbCpuTicks: () => treeCpuTicks(pg.pid!) } : {}

export interface RunningServer {
  readonly name: ServerName
  readonly protocol: Protocol
  readonly pid: number
  readonly port: number
  /** http://127.0.0.1:port */
  readonly httpUrl: string
  /** What the client adapter connects to. */
  readonly connectUrl: string
  /** Several nodes (ours-cluster2): where each room's members connect, in turn. */
  readonly connectUrls?: ReadonlyArray<string>
  /** Further server processes whose CPU and RSS count as the server's (the second node). */
  readonly extraPids?: ReadonlyArray<number>
  /** CPU ticks of the database server behind it, when there is one (PostgreSQL). */
  readonly dbCpuTicks?: () => number
  /** SIGKILL, no grace (the kill -9 check); stop() afterwards only waits for the exit. */
  readonly kill: () => void
  readonly stop: () => Promise<void>
}

const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  // The caller's CHAT_* settings (a developer's shell) must not leak into a measured node.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CHAT_")) env[k] = v
  return { ...env, ...extra }
}

/** Polls GET /healthz every 20 ms until it answers 200; fails if the process exits first. */
export const waitHealthy = async (child: ChildProcess, url: string, timeoutMs: number, output: () => string) => {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${output()}`)
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await delay(20)
  }
  throw new Error(`server not healthy after ${timeoutMs} ms:\n${output()}`)
}

/**
 * The CQL server (Apache Cassandra standing in for ScyllaDB, scripts/cassandra/server.ts) for
 * `ours-scylla` and `ours-dual`; bench/main.ts starts it when a scenario needs it and sets it
 * here for the run.
 */
export interface CqlHost {
  readonly contactPoint: string
  readonly pid: number
}
let cqlHost: CqlHost | undefined
export const useCqlHost = (host: CqlHost | undefined) => {
  cqlHost = host
}
export const needsCql = (name: ServerName) => name === "ours-scylla" || name === "ours-dual"

/** Servers that store in PostgreSQL (a database of the run's server each). */
export const needsPg = (name: ServerName) =>
  name === "ours-postgres" || name === "ours-dual" || name === "ours-cluster2" || name === "socketio-pg" || name === "lean-pg"

/**
 * The CQL server is paused (SIGSTOP to its process group) while no server under test uses it:
 * an idle JVM's background work (GC, compaction, gossip) otherwise takes CPU from every other
 * measurement on this small machine. Resumed for the servers that need it, paused again when
 * they stop, and resumed before it is stopped.
 */
const signalCql = (signal: NodeJS.Signals) => {
  if (cqlHost === undefined) return
  try {
    process.kill(-cqlHost.pid, signal)
  } catch {
    // Already gone: nothing to pause or resume.
  }
}
export const pauseCql = () => signalCql("SIGSTOP")
export const resumeCql = () => signalCql("SIGCONT")

export interface OursOptions {
  readonly store: "pglite" | "postgres" | "scylla" | "dual"
  /** Required for postgres. */
  readonly postgresUrl?: string
  /** A data dir to use (kept); a fresh temp dir (removed on stop) when absent. */
  readonly dataDir?: string
  readonly env?: Record<string, string>
  /** Like a bare `npm start`: no secrets in the environment, the node generates them into the data dir. */
  readonly generatedSecrets?: boolean
  /** Run under the V8 CPU profiler, writing the profile into this directory. */
  readonly profileDir?: string
  /** `--expose-gc` and bench/lib/gcOnSignal.ts: SIGUSR2 runs a full GC (the idle scenario). */
  readonly gcOnSignal?: boolean
}

const gcOnSignalArgs = () => ["--expose-gc", "--import", compiled("bench/lib/gcOnSignal.ts")]

/**
 * `--cpu-prof` for our node when a profile directory is given (`--profile`), or when
 * `BENCH_CPU_PROF=<dir>` is set: V8 writes the profile there when the node stops; summarise
 * it with `node --import tsx bench/profile.ts <file>`. Peers and client processes are never
 * profiled.
 */
const profileDirOf = (dir: string | undefined): string | undefined => dir ?? (process.env.BENCH_CPU_PROF || undefined)

const profileArgs = (dir: string | undefined): Array<string> => {
  const d = profileDirOf(dir)
  return d ? ["--cpu-prof", `--cpu-prof-dir=${d}`] : []
}

/**
 * What our node runs: the bundle `npm start` runs, except under the profiler, which gets the
 * same code unbundled (tsc's dist/src/), so that its samples name the package or source file
 * they ran in (bench/profile.ts sorts them into areas by URL; in the bundle everything would
 * be one file). Profiles are never headline figures.
 */
const oursEntry = (profileDir: string | undefined): string => (profileDirOf(profileDir) !== undefined ? OURS_UNBUNDLED_ENTRY : OURS_ENTRY)

/** `BENCH_OURS_ENV="CHAT_X=1 CHAT_Y=2"`: extra settings for our node only (experiments; never in headline runs). */
const oursEnv = (): Record<string, string> =>
  Object.fromEntries(
    (process.env.BENCH_OURS_ENV ?? "")
      .split(/\s+/)
      .filter((kv) => kv.includes("="))
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])
  )

export const flagsOf = (value: string | undefined): Array<string> => (value ?? "").split(/\s+/).filter((f) => f !== "")
/** `BENCH_OURS_NODE_FLAGS="--flag ..."`: extra V8/Node flags for our node only (experiments). */
const oursNodeFlags = (): Array<string> => flagsOf(process.env.BENCH_OURS_NODE_FLAGS)
/** `BENCH_PEER_NODE_FLAGS="--flag ..."`: the same for the peers (e.g. `--perf-basic-prof`, to profile both sides alike). */
const peerNodeFlags = (): Array<string> => flagsOf(process.env.BENCH_PEER_NODE_FLAGS)

/**
 * `BENCH_OURS_OUTPUT=<file>`: our node's stdout and stderr are also appended to <file>
 * (experiments: e.g. with `BENCH_OURS_NODE_FLAGS="--trace-gc-nvp"`, V8's own lines).
 */
const oursOutputFile = (): string | undefined => process.env.BENCH_OURS_OUTPUT || undefined

/** Spawns our node with the bench settings; answers once /healthz is 200. */
export const spawnOurs = (options: OursOptions, port: number) => {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "chat-bench-data-"))
  const out = tail()
  const child = track(
    spawn(process.execPath, [...profileArgs(options.profileDir), ...oursNodeFlags(), ...(options.gcOnSignal === true ? gcOnSignalArgs() : []), oursEntry(options.profileDir)], {
      cwd: ROOT,
      env: childEnv({
        CHAT_PORT: String(port),
        CHAT_HOST: "127.0.0.1",
        CHAT_DATA_DIR: dataDir,
        CHAT_STORE: options.store,
        ...(options.postgresUrl !== undefined ? { CHAT_POSTGRES_URL: options.postgresUrl } : {}),
        ...(options.store === "scylla" || options.store === "dual"
          ? {
              CHAT_SCYLLA_CONTACT_POINTS: cqlHost?.contactPoint ?? "",
              // A keyspace per server run; one replica, so ONE is every replica.
              CHAT_SCYLLA_KEYSPACE: `bench_${port}_${Date.now().toString(36)}`,
              CHAT_SCYLLA_CONSISTENCY: "ONE"
            }
          : {}),
        ...(options.generatedSecrets === true ? {} : { CHAT_JWT_SECRET: BENCH_SECRET, CHAT_MASTER_KEY: BENCH_MASTER_KEY_HEX }),
        CHAT_SEND_RATE: UNLIMITED_SENDS,
        CHAT_SEND_BURST: UNLIMITED_SENDS,
        CHAT_NODE_ID: "bench",
        // The port is chosen here, so the info-level "listening" line is not needed.
        CHAT_LOG_LEVEL: "warning",
        ...oursEnv(),
        ...options.env
      }),
      stdio: ["ignore", "pipe", "pipe"]
    })
  )
  // Always drained: a full pipe would block the server's logging, and so the server.
  child.stdout!.on("data", out.push)
  child.stderr!.on("data", out.push)
  const copy = oursOutputFile()
  if (copy !== undefined) {
    child.stdout!.on("data", (chunk: Buffer) => appendFileSync(copy, chunk))
    child.stderr!.on("data", (chunk: Buffer) => appendFileSync(copy, chunk))
  }
  return { child, dataDir, output: out.get }
}

export const startOurs = async (options: OursOptions, pg?: DatabaseHost): Promise<RunningServer> => {
  const port = await freePort()
  const { child, dataDir, output } = spawnOurs(options, port)
  const httpUrl = `http://127.0.0.1:${port}`
  try {
    await waitHealthy(child, httpUrl, 90_000, output)
  } catch (e) {
    await stopChild(child)
    throw e
  }
  return {
    name: `ours-${options.store}`,
    protocol: "ours",
    pid: child.pid!,
    port,
    httpUrl,
    connectUrl: `ws://127.0.0.1:${port}/v1/ws`,
    // The database CPU column: PostgreSQL's for postgres (and dual, whose primary it is), the
    // CQL server's for scylla.
    ...(options.store === "postgres" || options.store === "dual"
      ? dbCpu(pg)
      : options.store === "scylla" && cqlHost !== undefined
        ? { dbCpuTicks: () => treeCpuTicks(cqlHost!.pid) }
        : {}),
    kill: () => child.kill("SIGKILL"),
    stop: async () => {
      await stopChild(child)
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

const PEER_FILES: Record<Exclude<ServerName, `ours-${string}`>, string> = {
  rawws: "bench/peers/rawws.ts",
  socketio: "bench/peers/socketio.ts",
  "socketio-pg": "bench/peers/socketioPg.ts",
  "lean-pg": "bench/peers/leanPg.ts"
}

/** Starts a peer; it prints `{"port":N}` on stdout once listening. */
export const startPeer = async (
  name: "rawws" | "socketio" | "socketio-pg" | "lean-pg",
  options: { readonly postgresUrl?: string; readonly pg?: DatabaseHost; readonly gcOnSignal?: boolean } = {}
): Promise<RunningServer> => {
  const out = tail()
  const child = track(
    spawn(process.execPath, [...peerNodeFlags(), ...(options.gcOnSignal === true ? gcOnSignalArgs() : []), compiled(PEER_FILES[name])], {
      cwd: ROOT,
      env: childEnv({
        PORT: "0",
        ...(options.postgresUrl !== undefined ? { PEER_POSTGRES_URL: options.postgresUrl } : {}),
        ...(name === "lean-pg" ? { PEER_JWT_SECRET: BENCH_SECRET } : {})
      }),
      stdio: ["ignore", "pipe", "pipe"]
    })
  )
  child.stderr!.on("data", out.push)
  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      let text = ""
      const timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s:\n${out.get()}`)), 60_000)
      child.stdout!.on("data", (chunk: Buffer) => {
        out.push(chunk)
        text += chunk.toString()
        const m = /\{"port":(\d+)\}/.exec(text)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      child.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`${name} exited with ${code}:\n${out.get()}`))
      })
    })
  } catch (e) {
    await stopChild(child)
    throw e
  }
  const httpUrl = `http://127.0.0.1:${port}`
  return {
    name,
    protocol: protocolOf(name),
    pid: child.pid!,
    port,
    httpUrl,
    connectUrl: name === "rawws" || name === "lean-pg" ? `ws://127.0.0.1:${port}/` : httpUrl,
    ...(name === "socketio-pg" || name === "lean-pg" ? dbCpu(options.pg) : {}),
    kill: () => child.kill("SIGKILL"),
    stop: () => stopChild(child)
  }
}

/** Starts any server by name; PostgreSQL-backed ones get a fresh database `bench_<label>`. */
export const startServer = async (
  name: ServerName,
  label: string,
  pg: DatabaseHost | undefined,
  extras: { readonly profileDir?: string | undefined; readonly gcOnSignal?: boolean } = {}
): Promise<RunningServer> => {
  const profile = {
    ...(extras.profileDir !== undefined ? { profileDir: extras.profileDir } : {}),
    ...(extras.gcOnSignal === true ? { gcOnSignal: true } : {})
  }
  const usesPg = needsPg(name)
  if (needsCql(name) && cqlHost === undefined) throw new Error(`${name} needs the CQL server`)
  if (usesPg && pg === undefined) throw new Error(`${name} needs PostgreSQL`)
  const url = usesPg ? await pg!.createDatabase(`bench_${label}_${name.replace("-", "_")}`) : undefined
  if (needsCql(name)) {
    resumeCql()
    try {
      const server = await startNamed(name, url, pg, profile)
      return {
        ...server,
        stop: async () => {
          await server.stop()
          pauseCql()
        }
      }
    } catch (e) {
      pauseCql()
      throw e
    }
  }
  return startNamed(name, url, pg, profile)
}

const startNamed = (
  name: ServerName,
  url: string | undefined,
  pg: DatabaseHost | undefined,
  profile: { readonly profileDir?: string; readonly gcOnSignal?: boolean }
): Promise<RunningServer> => {
  switch (name) {
    case "ours-pglite":
      return startOurs({ store: "pglite", ...profile })
    case "ours-postgres":
      return startOurs({ store: "postgres", postgresUrl: url!, ...profile }, pg)
    case "ours-dual":
      return startOurs({ store: "dual", postgresUrl: url!, ...profile }, pg)
    case "ours-scylla":
      return startOurs({ store: "scylla", ...profile })
    case "ours-cluster2":
      return startCluster2(url!, pg!, profile)
    case "socketio-pg":
    case "lean-pg":
      return startPeer(name, { postgresUrl: url!, pg: pg!, ...profile })
    default:
      return startPeer(name, profile)
  }
}

/** The nats-server processes this process started (children named nats-server), from /proc. */
const natsChildren = (): Array<number> =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
        return stat.includes("(nats-server)") && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid
      } catch {
        return false
      }
    })

/**
 * `ours-cluster2`: two of our nodes on this host in clustered mode, one PostgreSQL database,
 * one NATS server (JetStream) and one Redis between them, as deploy/ runs a cluster (Redis
 * shares presence, limits and the membership cache; without it each node would think a
 * member on the other node offline and publish a push intent for every message). Clients are
 * spread over both nodes (a room's members on different nodes), so sends reach the room's
 * owner and deliveries the other node through NATS. CPU and RSS: both nodes (RSS: the first);
 * the NATS server's and Redis's CPU count with the database's.
 */
const startCluster2 = async (
  postgresUrl: string,
  pg: DatabaseHost,
  profile: { readonly profileDir?: string }
): Promise<RunningServer> => {
  const before = new Set(natsChildren())
  const { startNats } = await import("../../tests/support/nats.ts")
  const nats = await startNats()
  const natsPid = natsChildren().find((p) => !before.has(p))
  const { startRedis } = await import("../../tests/support/redis.ts")
  const redis = await startRedis()
  const nodes: Array<RunningServer> = []
  try {
    for (const id of ["bench-a", "bench-b"]) {
      const env = { CHAT_NATS_URL: nats.url, CHAT_REDIS_URL: redis.url, CHAT_NODE_ID: id }
      nodes.push(await startOurs({ store: "postgres", postgresUrl, env, ...profile }, pg))
    }
  } catch (e) {
    for (const n of nodes) await n.stop()
    await Promise.all([nats.stop(), redis.stop()])
    throw e
  }
  const redisPid = redis.pid()
  const [a, b] = nodes
  return {
    ...a,
    name: "ours-cluster2",
    connectUrls: [a.connectUrl, b.connectUrl],
    extraPids: [b.pid],
    dbCpuTicks: () => (a.dbCpuTicks?.() ?? 0) + (natsPid !== undefined ? cpuTicks(natsPid) : 0) + cpuTicks(redisPid),
    kill: () => {
      a.kill()
      b.kill()
    },
    stop: async () => {
      await Promise.all([a.stop(), b.stop()])
      await Promise.all([nats.stop(), redis.stop()])
    }
  }
}
