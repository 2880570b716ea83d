/**
 * A throw-away PostgreSQL server for one bench run, started by the tests' helper
 * (tests/support/postgres.ts). Unlike the tests' server it is durable by default (fsync and
 * synchronous_commit on): the persisted-throughput scenario measures "acked after commit",
 * and a commit that is not flushed would flatter per-message INSERTs and group commit alike.
 * `durable: false` gives the tests' settings (--pg-fast).
 */
import postgres from "postgres"
import { startPostgresServer } from "../../tests/support/postgres.ts"
import { atExit } from "./children.ts"
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

export const startBenchPostgres = async (options: { readonly durable: boolean }): Promise<BenchPostgres> => {
  const server = await startPostgresServer({ durable: options.durable, dirPrefix: "chat-bench-pg-", onExit: atExit })
  const admin = postgres(server.url, { max: 1, onnotice: () => {} })
  const [{ server_version }] = await admin`SHOW server_version`
  return {
    url: server.url,
    version: String(server_version),
    settings: options.durable ? ["fsync=on", "synchronous_commit=on (defaults)"] : ["fsync=off", "synchronous_commit=off", "full_page_writes=off"],
    pid: server.pid,
    createDatabase: async (name) => {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}"`)
      await admin.unsafe(`CREATE DATABASE "${name}"`)
      return `postgres://postgres@127.0.0.1:${server.port}/${name}`
    },
    stop: async () => {
      await admin.end({ timeout: 5 }).catch(() => undefined)
      server.stop()
    }
  }
}
