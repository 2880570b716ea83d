/**
 * A throw-away PostgreSQL server for one test run, started by globalSetup. With
 * CHAT_TEST_POSTGRES_URL set, that server is used instead and nothing is started.
 * The bench starts its servers with the same `startPostgresServer` (bench/lib/postgres.ts).
 *
 * initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user
 * (runuser) on a temporary directory handed to that user. The server listens on 127.0.0.1
 * only, on a free port, with trust auth; the tests' server runs without fsync (the data is
 * disposable), the bench's durable one with it.
 */
import { spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./ports.ts"

export interface RunningPostgres {
  /** Admin URL (user postgres, database postgres). */
  readonly url: string
  readonly stop: () => Promise<void>
  /** A crash of the server (`pg_ctl stop -m immediate`), data kept; only on a server started here. */
  readonly halt?: () => void
  /** Starts the halted server again on the same port. */
  readonly resume?: () => void
  /**
   * A hang, not a crash: SIGSTOP to the postmaster and every backend. Connections stay open
   * and nothing answers (like a paused VM or a network black hole); `thaw` sends SIGCONT.
   */
  readonly freeze?: () => void
  readonly thaw?: () => void
}

const PG_ROOT = "/usr/lib/postgresql"

const findBinaries = (): string => {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT).filter((v) => existsSync(join(PG_ROOT, v, "bin", "pg_ctl")))
    : []
  if (versions.length === 0) {
    throw new Error(
      `no PostgreSQL server binaries under ${PG_ROOT}/*/bin: install postgresql (apt-get install postgresql) ` +
        "or point CHAT_TEST_POSTGRES_URL at a server"
    )
  }
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  return join(PG_ROOT, newest, "bin")
}

const isRoot = () => process.getuid?.() === 0

/** Runs a PostgreSQL tool, as the postgres user when we are root; throws with its output. */
const run = (bin: string, tool: string, args: ReadonlyArray<string>, logFile?: string) => {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), [...args]]
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: 120_000 })
  if (r.status !== 0) {
    const log = logFile !== undefined && existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-4000) : ""
    throw new Error(`${tool} failed (${r.status ?? r.signal}): ${r.error ?? ""}\n${r.stdout}\n${r.stderr}\n${log}`)
  }
}

const postgresUser = () => {
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim())
  const uid = id("-u")
  if (!Number.isInteger(uid) || uid <= 0) throw new Error("running as root needs a `postgres` system user")
  return { uid, gid: id("-g") }
}

export interface PostgresServer {
  /** Admin URL (user postgres, database postgres). */
  readonly url: string
  readonly port: number
  /** The postmaster: its backends are its children. */
  readonly pid: number
  /** Settings passed with `-c`, as `name=value`. */
  readonly settings: ReadonlyArray<string>
  /** Stops the server at once (`-m immediate`) and removes its directory; idempotent. */
  readonly stop: () => void
  /** A crash of the server (`pg_ctl stop -m immediate`), data kept. */
  readonly halt: () => void
  /** Starts the halted server again on the same port. */
  readonly resume: () => void
  /** SIGSTOP to the postmaster and its backends; `thaw` sends SIGCONT to the same processes. */
  readonly freeze: () => void
  readonly thaw: () => void
}

/** A process and its descendants, from /proc (Linux). */
const processTree = (root: number): Array<number> => {
  const parents = new Map<number, Array<number>>()
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      parents.set(ppid, [...(parents.get(ppid) ?? []), pid])
    } catch {
      // exited meanwhile
    }
  }
  const out = [root]
  for (let i = 0; i < out.length; i++) out.push(...(parents.get(out[i]) ?? []))
  return out
}

/**
 * Starts a PostgreSQL server in a temporary directory. `durable: false` turns fsync,
 * synchronous commit and full-page writes off. The caller decides how the server is
 * stopped when the process exits (`onExit` registers `stop`; it returns an unregister).
 */
export const startPostgresServer = async (options: {
  /** true: the defaults (fsync on); "commits": only synchronous_commit on; false: all three off. */
  readonly durable: boolean | "commits"
  readonly dirPrefix: string
  readonly onExit: (stop: () => void) => () => void
}): Promise<PostgresServer> => {
  const bin = findBinaries()
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix))
  if (isRoot()) {
    const { uid, gid } = postgresUser()
    chownSync(dir, uid, gid)
  }
  const data = join(dir, "data")
  const log = join(dir, "server.log")
  const port = await freePort()
  const settings = [
    "listen_addresses=127.0.0.1",
    `port=${port}`,
    `unix_socket_directories=${dir}`,
    "max_connections=300",
    ...(options.durable === true
      ? []
      : ["fsync=off", `synchronous_commit=${options.durable === "commits" ? "on" : "off"}`, "full_page_writes=off"])
  ]
  try {
    run(bin, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
    run(bin, "pg_ctl", ["-D", data, "-l", log, "-o", settings.map((s) => `-c ${s}`).join(" "), "-w", "-t", "60", "start"], log)
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
  let stopped = false
  let forget = () => {}
  let frozen: Array<number> = []
  const signal = (pids: ReadonlyArray<number>, sig: NodeJS.Signals) => {
    for (const p of pids) {
      try {
        process.kill(p, sig)
      } catch {
        // exited meanwhile
      }
    }
  }
  const thaw = () => {
    signal(frozen, "SIGCONT")
    frozen = []
  }
  const stop = () => {
    if (stopped) return
    stopped = true
    forget()
    thaw()
    try {
      run(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], log)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  forget = options.onExit(stop)
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    settings,
    stop,
    halt: () => run(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], log),
    freeze: () => {
      const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
      frozen = processTree(postmaster)
      signal(frozen, "SIGSTOP")
    },
    thaw,
    resume: () => run(bin, "pg_ctl", ["-D", data, "-l", log, "-o", settings.map((s) => `-c ${s}`).join(" "), "-w", "-t", "60", "start"], log)
  }
}

/**
 * `durable`: commits are flushed before they are acknowledged, so a test that crashes the
 * server (`halt`) loses no acknowledged commit. Off by default: faster.
 */
export const startPostgres = async (options: { readonly durable?: boolean } = {}): Promise<RunningPostgres> => {
  const external = process.env.CHAT_TEST_POSTGRES_URL
  if (external !== undefined && external !== "") return { url: external, stop: async () => {} }
  const server = await startPostgresServer({
    durable: options.durable === true ? "commits" : false,
    dirPrefix: "chat-test-pg-",
    // A run that ends without its teardown (a crash, process.exit) must not leave a server behind.
    onExit: (stop) => {
      process.on("exit", stop)
      return () => process.off("exit", stop)
    }
  })
  return { url: server.url, stop: async () => server.stop(), halt: server.halt, resume: server.resume, freeze: server.freeze, thaw: server.thaw }
}
