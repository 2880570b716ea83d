/**
 * A throw-away PostgreSQL server for one bench run, started the way tests/support/postgres.ts
 * does it (initdb as the `postgres` user when we are root, 127.0.0.1 on a free port, trust
 * auth, a temp directory removed at the end). Unlike the tests' server it is durable by
 * default (fsync and synchronous_commit on): the persisted-throughput scenario measures
 * "acked after commit", and a commit that is not flushed would flatter per-message INSERTs
 * and group commit alike. `durable: false` gives the tests' settings (--pg-fast).
 */
import { spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import postgres from "postgres"
import { atExit, freePort } from "./children.ts"
import type { DatabaseHost } from "./servers.ts"

export interface BenchPostgres extends DatabaseHost {
  /** Admin URL (user postgres, database postgres). */
  readonly url: string
  readonly version: string
  readonly settings: ReadonlyArray<string>
  /** The postmaster: its backends are its children (see procstat.treeCpuTicks). */
  readonly pid: number
  readonly stop: () => Promise<void>
}

const PG_ROOT = "/usr/lib/postgresql"

const findBinaries = (): string => {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT).filter((v) => existsSync(join(PG_ROOT, v, "bin", "pg_ctl")))
    : []
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${PG_ROOT}/*/bin`)
  return join(PG_ROOT, versions.sort((a, b) => Number(b) - Number(a))[0], "bin")
}

const isRoot = () => process.getuid?.() === 0

const run = (bin: string, tool: string, args: ReadonlyArray<string>, logFile?: string) => {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), [...args]]
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: 120_000 })
  if (r.status !== 0) {
    const log = logFile !== undefined && existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-4000) : ""
    throw new Error(`${tool} failed (${r.status ?? r.signal}): ${r.error ?? ""}\n${r.stdout}\n${r.stderr}\n${log}`)
  }
  return r.stdout
}

const postgresUser = () => {
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim())
  const uid = id("-u")
  if (!Number.isInteger(uid) || uid <= 0) throw new Error("running as root needs a `postgres` system user")
  return { uid, gid: id("-g") }
}

export const startBenchPostgres = async (options: { readonly durable: boolean }): Promise<BenchPostgres> => {
  const bin = findBinaries()
  const dir = mkdtempSync(join(tmpdir(), "chat-bench-pg-"))
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
    ...(options.durable ? [] : ["fsync=off", "synchronous_commit=off", "full_page_writes=off"])
  ]
  try {
    run(bin, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
    run(bin, "pg_ctl", ["-D", data, "-l", log, "-o", settings.map((s) => `-c ${s}`).join(" "), "-w", "-t", "60", "start"], log)
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  let stopped = false
  const stopNow = () => {
    if (stopped) return
    stopped = true
    try {
      run(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], log)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const forget = atExit(stopNow)
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  const [{ server_version }] = await admin`SHOW server_version`
  return {
    url,
    version: String(server_version),
    settings: options.durable ? ["fsync=on", "synchronous_commit=on (defaults)"] : ["fsync=off", "synchronous_commit=off", "full_page_writes=off"],
    pid,
    createDatabase: async (name) => {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}"`)
      await admin.unsafe(`CREATE DATABASE "${name}"`)
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    stop: async () => {
      await admin.end({ timeout: 5 }).catch(() => undefined)
      forget()
      stopNow()
    }
  }
}
