/**
 * What the one-statement send commit (storage/sql/queries.ts COMMIT_SENDS) costs the
 * database per message, and what a schema or statement change would save, measured on the
 * backend alone: the statement runs prepared (as the store runs it) in a loop over groups of
 * 7 rooms with one message each (the group size the fixed-rate scenario shows at 1,000
 * msg/s), on a fresh database of 100 rooms of 2, and the backend process's CPU
 * (/proc/<pid>/stat) is divided by the messages written. `synchronous_commit = off`: the WAL
 * flush is the same for every variant and would only add noise.
 *
 * Variants, each on a database of its own, alternated round by round:
 * - `base`: the schema and statement as they are;
 * - `no-live-index`: without the `messages_live` partial index (what unread counts read);
 * - `covering-pk`: `messages_live` dropped and the primary key made `(room_id, seq) INCLUDE
 *   (sender, deleted)`, which could serve the unread count instead;
 * - `no-intent`: the statement without its push-intent insert.
 *
 *   node --import tsx bench/commitstatement.ts [--postgres-url URL] [--rounds 3] [--groups 5000]
 *
 * The databases `chat_commitstatement_*` on that server are dropped and created anew.
 * Linux only (/proc).
 */
import { randomUUID } from "node:crypto"
import postgres from "postgres"
import { loadMigrations } from "../storage/sql/migrations.node.ts"
import { COMMIT_SENDS } from "../storage/sql/queries.ts"
import { CLK_TCK, cpuTicks } from "./lib/procstat.ts"
import { arg } from "./lib/args.ts"

const serverUrl = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/postgres")
const rounds = Number(arg("rounds", "3"))
const groups = Number(arg("groups", "5000"))
const ROOMS = 100
const PER_GROUP = 7
const WARMUP = 500

const VARIANTS = ["base", "no-live-index", "covering-pk", "no-intent"] as const
type Variant = (typeof VARIANTS)[number]

const INTENT = /, intent AS \([\s\S]*?DO NOTHING\n\)/
if (!INTENT.test(COMMIT_SENDS)) throw new Error("COMMIT_SENDS changed: its intent CTE is not where this tool expects it")

const statementOf = (v: Variant) => (v === "no-intent" ? COMMIT_SENDS.replace(INTENT, "") : COMMIT_SENDS)

const schemaChange: Record<Variant, string | undefined> = {
  base: undefined,
  "no-live-index": "DROP INDEX messages_live",
  "covering-pk": `DROP INDEX messages_live;
ALTER TABLE reactions DROP CONSTRAINT reactions_room_id_seq_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE messages ADD PRIMARY KEY (room_id, seq) INCLUDE (sender, deleted);
ALTER TABLE reactions ADD FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE`,
  "no-intent": undefined
}

const urlOf = (db: string) => serverUrl.replace(/\/[^/]*$/, `/${db}`)
const literal = (xs: ReadonlyArray<string | number>) => `{${xs.join(",")}}`

const measure = async (variant: Variant): Promise<number> => {
  const db = `chat_commitstatement_${variant.replace(/-/g, "_")}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`DROP DATABASE IF EXISTS ${db}`)
  await admin.unsafe(`CREATE DATABASE ${db}`)
  await admin.end()
  const sql = postgres(urlOf(db), { max: 1, onnotice: () => {} })
  try {
    for (const m of loadMigrations()) await sql.unsafe(m.sql)
    const change = schemaChange[variant]
    if (change !== undefined) await sql.unsafe(change)
    const rooms = Array.from({ length: ROOMS }, () => randomUUID())
    for (const r of rooms) {
      await sql.unsafe(`INSERT INTO rooms (id, kind, created_at, last_activity_at) VALUES ($1, 'direct', now(), now())`, [r])
      await sql.unsafe(
        `INSERT INTO members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'member', now()), ($1, $3, 'member', now())`,
        [r, `a-${r}`, `b-${r}`]
      )
    }
    await sql.unsafe("INSERT INTO shard_fences (shard, epoch) VALUES (1, 0)")
    await sql.unsafe("SET synchronous_commit = off")
    const text = statementOf(variant)
    const heads = new Map(rooms.map((r) => [r, 0]))
    const body = `"${"x".repeat(120)}"`
    const group = async (g: number): Promise<number> => {
      const picked = [...new Set(Array.from({ length: PER_GROUP }, (_, k) => rooms[(g * PER_GROUP + k * 13) % ROOMS]!))].sort()
      const now = `"${new Date().toISOString()}"`
      const h = { room: [] as Array<string>, expected: [] as Array<number>, last: [] as Array<number>, ts: [] as Array<string> }
      const m = { room: [] as Array<string>, seq: [] as Array<number>, id: [] as Array<string>, sender: [] as Array<string>, cmid: [] as Array<string> }
      for (const r of picked) {
        const last = heads.get(r)!
        h.room.push(r)
        h.expected.push(last)
        h.last.push(last + 1)
        h.ts.push(now)
        m.room.push(r)
        m.seq.push(last + 1)
        m.id.push(randomUUID())
        m.sender.push(`a-${r}`)
        m.cmid.push(randomUUID())
        heads.set(r, last + 1)
      }
      const ones = picked.map(() => 1)
      await sql.unsafe(
        text,
        [
          literal([1]),
          literal(h.room),
          literal(h.expected),
          literal(h.last),
          literal(ones),
          literal(ones),
          literal(h.ts),
          literal(m.room),
          literal(m.seq),
          literal(m.id),
          literal(m.sender),
          literal(picked.map(() => body)),
          literal(m.cmid),
          literal(h.last)
        ],
        { prepare: true }
      )
      return picked.length
    }
    for (let g = 0; g < WARMUP; g++) await group(g)
    const [{ pid }] = await sql.unsafe("SELECT pg_backend_pid() AS pid")
    const before = cpuTicks(Number(pid))
    let messages = 0
    for (let g = WARMUP; g < WARMUP + groups; g++) messages += await group(g)
    return ((cpuTicks(Number(pid)) - before) / CLK_TCK) * 1e6 / messages
  } finally {
    await sql.end()
    const cleanup = postgres(serverUrl, { max: 1, onnotice: () => {} })
    await cleanup.unsafe(`DROP DATABASE IF EXISTS ${db}`)
    await cleanup.end()
  }
}

const results = new Map<Variant, Array<number>>(VARIANTS.map((v) => [v, []]))
for (let round = 1; round <= rounds; round++) {
  for (const v of VARIANTS) {
    const us = await measure(v)
    results.get(v)!.push(us)
    console.log(`round ${round} ${v}: ${us.toFixed(1)} µs of backend CPU per message`)
  }
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const base = median(results.get("base")!)
for (const v of VARIANTS) {
  const xs = results.get(v)!
  console.log(
    `${v.padEnd(14)} median ${median(xs).toFixed(1)} µs (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}), ${(((median(xs) - base) / base) * 100).toFixed(0)} % against base`
  )
}
