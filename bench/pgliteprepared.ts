/**
 * PGlite's CPU per one-statement commit (storage/sql/fastCommit.ts's statement, one room and
 * one message each) through `PGlite.query` (an unnamed statement: parsed and planned at every
 * run) against the store's client, which prepares it once under a name
 * (storage/pglite/prepared.ts). In memory, one process, no network:
 *
 *   node --import tsx bench/pgliteprepared.ts [--commits 600] [--rounds 2]
 */
import { PGlite } from "@electric-sql/pglite"
import { Effect } from "effect"
import { parseArgs } from "node:util"
import { pgliteDatabase } from "../storage/pglite/PgliteStore.ts"
import { migrate } from "../storage/sql/migrate.ts"
import { loadMigrations } from "../storage/sql/migrations.node.ts"
import * as Q from "../storage/sql/queries.ts"

const { values } = parseArgs({ options: { commits: { type: "string", default: "600" }, rounds: { type: "string", default: "2" } } })
const commits = Number(values.commits)

const db = await PGlite.create()
const sql = pgliteDatabase(db)
await Effect.runPromise(migrate(sql, loadMigrations()))
const rooms = Array.from({ length: 100 }, () => crypto.randomUUID())
const last = new Array<number>(rooms.length).fill(0)
for (const id of rooms) await db.query("INSERT INTO rooms (id, kind, created_at, last_activity_at) VALUES ($1, 'group', now(), now())", [id])
const body = `v2.0123456789abcdef.AAECAwQFBgcICQoL.${"A".repeat(120)}`

let k = 0
/** The statement's parameters for one message in the next room, whose head then moves on. */
const next = (): Array<unknown> => {
  const i = k++ % rooms.length
  const room = rooms[i]!
  const seq = ++last[i]!
  const ts = new Date().toISOString()
  return [[], [room], [seq - 1], [seq], [0], [null], [ts], [1], [room], [seq], [crypto.randomUUID()], [`user${i}`], [body], [crypto.randomUUID()], [seq]]
}

const cpuUs = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

const measure = async (label: string, run: () => Promise<unknown>) => {
  for (let i = 0; i < 100; i++) await run()
  const t0 = cpuUs()
  for (let i = 0; i < commits; i++) await run()
  console.log(`${label}: ${Math.round((cpuUs() - t0) / commits)} µs of CPU per commit`)
}

for (let round = 1; round <= Number(values.rounds); round++) {
  await measure(`round ${round}, PGlite.query (unnamed)`, () => db.query(Q.COMMIT_SENDS, next()))
  await measure(`round ${round}, store client (prepared)`, () => sql.query(Q.COMMIT_SENDS, next()))
}
await db.close()
