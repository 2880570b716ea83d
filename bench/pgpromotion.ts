/**
 * postgres.js alone, at a chat server's statement rate: what survives V8's young-generation
 * collections. A loop inserts `--rate` rows per second in statements of up to 256 rows built
 * from `unnest` arrays (the shape of lean-pg's and our commit), at most 4 in flight, for
 * `--seconds`, into an unlogged table of a database it creates and drops. Nothing in this
 * process keeps a row once its statement has answered, so whatever is promoted to the old
 * generation comes from the driver's path (or Node's streams below it).
 *
 * Run it with the GC trace preload (bench/lib/gcTrace.ts, compiled by any bench run):
 *
 *   node --import tsx --import ./bench/.build/lib/gcTrace.js bench/pgpromotion.ts [--rate 4000] [--seconds 20]
 *
 * and read `$TMPDIR/chat-bench-gc-<pid>.log`, or with `--trace-gc-nvp` for V8's own lines
 * (`promoted` against `new_space_survived` of the scavenge before). See bench/analysis.md.
 */
import postgres from "postgres"
import { arg } from "./lib/args.ts"

const serverUrl = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/postgres")
const rate = Number(arg("rate", "4000"))
const seconds = Number(arg("seconds", "20"))
const DATABASE = "chat_pgpromotion"
const IN_FLIGHT = 4
const MAX_ROWS = 256

const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`DROP DATABASE IF EXISTS ${DATABASE}`)
await admin.unsafe(`CREATE DATABASE ${DATABASE}`)
const url = new URL(serverUrl)
url.pathname = `/${DATABASE}`
const sql = postgres(url.toString(), { max: IN_FLIGHT, onnotice: () => {} })
await sql`CREATE UNLOGGED TABLE rows (room text, seq bigint, body text, PRIMARY KEY (room, seq))`
const INSERT = "INSERT INTO rows (room, seq, body) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])"

const body = "b".repeat(150)
let sent = 0
let inFlight = 0
const started = performance.now()
await new Promise<void>((done) => {
  const tick = () => {
    const elapsed = performance.now() - started
    const due = Math.floor((elapsed / 1000) * rate)
    while (due > sent && inFlight < IN_FLIGHT) {
      const rooms: Array<string> = []
      const seqs: Array<number> = []
      const bodies: Array<string> = []
      for (; sent < due && rooms.length < MAX_ROWS; sent++) {
        rooms.push(`r${sent % 100}`)
        seqs.push(sent)
        bodies.push(body)
      }
      inFlight++
      void sql.unsafe(INSERT, [rooms, seqs, bodies], { prepare: true }).then(() => inFlight--)
    }
    if (elapsed < seconds * 1000) setTimeout(tick, 5)
    else done()
  }
  tick()
})
while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10))
console.log(`${sent} rows in ${seconds} s`)
await sql.end()
await admin.unsafe(`DROP DATABASE IF EXISTS ${DATABASE}`)
await admin.end()
