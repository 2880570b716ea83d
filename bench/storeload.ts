/**
 * Store-level commit throughput, without the network or the actors: R rooms, each with one
 * writer that commits a batch of B sends, waits for it, and commits the next, for S seconds.
 * Shows what the store's commit path (and group commit) takes on its own.
 *
 *   node --import tsx bench/storeload.ts --postgres-url URL [--rooms 100] [--batch 1] [--seconds 5] [--concurrency 2]
 */
import { Effect, Scope, Exit } from "effect"
import { readFileSync } from "node:fs"
import postgres from "postgres"
import { makePostgresDatabase } from "../storage/postgres/PostgresStore.ts"
import { migrate } from "../storage/sql/migrate.ts"
import { loadMigrations } from "../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../storage/sql/SqlStore.ts"
import type { RoomId, UserId } from "../core/model.ts"
import { arg } from "./lib/args.ts"

const url = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/chat_storeload")
const rooms = Number(arg("rooms", "100"))
const batch = Number(arg("batch", "1"))
const seconds = Number(arg("seconds", "5"))
const concurrency = Number(arg("concurrency", "2"))

const main = async () => {
  const admin = postgres(url.replace(/\/[^/]*$/, "/postgres"), { onnotice: () => {} })
  const dbName = url.replace(/^.*\//, "")
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName}`)
  await admin.unsafe(`CREATE DATABASE ${dbName}`)
  await admin.end()
  const scope = Effect.runSync(Scope.make())
  const db = await Effect.runPromise(Scope.extend(makePostgresDatabase({ url, poolSize: 10 }), scope))
  await Effect.runPromise(migrate(db, loadMigrations()))
  const sizes: number[] = []
  const store = makeSqlStore(db, "postgres", { groupCommit: { concurrency, onGroup: (n) => sizes.push(n) } })
  const owner = "u1" as UserId
  const ids: RoomId[] = []
  for (let r = 0; r < rooms; r++) {
    const room = await Effect.runPromise(store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: `r${r}`, owner, members: [] }))
    ids.push(room.id)
  }
  const members = new Map([[owner, "owner" as const]])
  let committed = 0
  let n = 0
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  // Write system calls of this process (every thread): the database socket's writes dominate.
  const syscw = () => Number(/syscw: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1] ?? NaN)
  const w0 = syscw()
  await Promise.all(
    ids.map(async (room) => {
      while (performance.now() < deadline) {
        const ops = Array.from({ length: batch }, () => ({
          _tag: "Send" as const,
          actor: owner,
          messageId: crypto.randomUUID(),
          clientMsgId: `c${++n}`,
          body: "x".repeat(140)
        }))
        const results = await Effect.runPromise(store.commit(room, 0, members, ops))
        committed += results.filter((r) => r._tag === "Committed").length
      }
    })
  )
  const secs = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpu0)
  const writes = syscw() - w0
  const avg = sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length)
  console.log(
    JSON.stringify({ rooms, batch, concurrency, msgPerS: Math.round(committed / secs), groups: sizes.length, avgGroup: +avg.toFixed(1), nodeCpuPct: Math.round((100 * (cpu.user + cpu.system)) / 1e3 / (secs * 1000)), cpuUsPerCommit: Math.round((cpu.user + cpu.system) / sizes.length), writeSyscallsPerCommit: +(writes / sizes.length).toFixed(2) })
  )
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
