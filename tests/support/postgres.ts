/**
 * A throw-away PostgreSQL server for one test run, started by globalSetup. With
 * CHAT_TEST_POSTGRES_URL set, that server is used instead and nothing is started.
 *
 * initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user
 * (runuser) on a temporary directory handed to that user. The server listens on 127.0.0.1
 * only, on a free port, with trust auth and without fsync: the data is disposable.
 */
import { spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer, type AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface RunningPostgres {
  /** Admin URL (user postgres, database postgres). */
  readonly url: string
  readonly stop: () => Promise<void>
  /** A crash of the server (`pg_ctl stop -m immediate`), data kept; only on a server started here. */
  readonly halt?: () => void
  /** Starts the halted server again on the same port. */
  readonly resume?: () => void
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

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

const isRoot = () => process.getuid?.() === 0

/** Runs a PostgreSQL tool, as the postgres user when we are root; throws with its output. */
const run = (bin: string, tool: string, args: ReadonlyArray<string>, logFile?: string) => {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), [...args]]
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: 120_000 })
  if (r.status !== 0) {
    const log = logFile !== undefined && existsSync(logFile) ? readFileSync(logFile, "utf8") : ""
    throw new Error(`${tool} failed (${r.status ?? r.signal}): ${r.error ?? ""}\n${r.stdout}\n${r.stderr}\n${log}`)
  }
}

const postgresUser = () => {
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim())
  const uid = id("-u")
  if (!Number.isInteger(uid) || uid <= 0) throw new Error("running as root needs a `postgres` system user")
  return { uid, gid: id("-g") }
}

/**
 * `durable`: commits are flushed before they are acknowledged (synchronous_commit on), so a
 * test that crashes the server (`halt`) loses no acknowledged commit. Off by default: faster.
 */
export const startPostgres = async (options: { readonly durable?: boolean } = {}): Promise<RunningPostgres> => {
  const external = process.env.CHAT_TEST_POSTGRES_URL
  if (external !== undefined && external !== "") return { url: external, stop: async () => {} }

  const bin = findBinaries()
  const dir = mkdtempSync(join(tmpdir(), "chat-test-pg-"))
  if (isRoot()) {
    const { uid, gid } = postgresUser()
    chownSync(dir, uid, gid)
  }
  const data = join(dir, "data")
  const log = join(dir, "server.log")
  const port = await freePort()
  const settings = [
    "-c listen_addresses=127.0.0.1",
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    `-c synchronous_commit=${options.durable === true ? "on" : "off"}`,
    "-c full_page_writes=off",
    "-c max_connections=300"
  ].join(" ")
  try {
    run(bin, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
    run(bin, "pg_ctl", ["-D", data, "-l", log, "-o", settings, "-w", "-t", "60", "start"], log)
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    process.off("exit", stop)
    try {
      run(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], log)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  // A run that ends without its teardown (a crash, process.exit) must not leave a server behind.
  process.on("exit", stop)
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => stop(),
    halt: () => run(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], log),
    resume: () => run(bin, "pg_ctl", ["-D", data, "-l", log, "-o", settings, "-w", "-t", "60", "start"], log)
  }
}
