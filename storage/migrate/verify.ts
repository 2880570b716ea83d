/**
 * Verify (`npm run chat -- verify`): checks that ScyllaDB holds what PostgreSQL holds. Per room:
 * the head (last seq, kind, name), the member list with roles, the counts of messages and events,
 * the room keys; then a random sample of messages compared field by field AFTER decryption,
 * through the encryption layer on both sides, so a body copied wrongly (or under a key the other
 * side lacks) is found even though both sides hold ciphertext.
 *
 * The report names rooms, seqs and fields, never a body or a key.
 */
import { Effect, Option } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { Message, RoomId } from "../../core/model.ts"
import type { ChatStore } from "../ChatStore.ts"
import { BUCKET_SIZE } from "../scylla/buckets.ts"
import type { CqlClient } from "../scylla/CqlClient.ts"
import { loadHead } from "../scylla/head.ts"
import type { SqlClient } from "../sql/SqlClient.ts"
import { ROOM_IDS } from "./source.ts"

export interface Mismatch {
  readonly room: RoomId
  /** What differs: "lastSeq", "messages (count)", "message 12: body, editedAt", ... */
  readonly what: string
  /** Values where they are not secret (counts, seqs); empty for bodies. */
  readonly postgres: string
  readonly scylla: string
}

export interface VerifyOptions {
  /** PostgreSQL's rows, for counts and the sample's seqs. */
  readonly db: SqlClient
  readonly cql: CqlClient
  /** Both stores wrapped in withEncryption with the configured master key. */
  readonly postgres: ChatStore
  readonly scylla: ChatStore
  /** Messages compared per room; default 20. */
  readonly samplePerRoom?: number
  /** Only these rooms (all when absent). */
  readonly rooms?: ReadonlyArray<RoomId>
}

export interface VerifyReport {
  readonly rooms: number
  readonly sampled: number
  readonly mismatches: ReadonlyArray<Mismatch>
}

// A message is its own message.created event in PostgreSQL (../sql/queries.ts REPLAY).
const COUNTS = `
SELECT (SELECT count(*) FROM messages WHERE room_id = $1::uuid) AS messages,
       (SELECT count(*) FROM messages WHERE room_id = $1::uuid)
       + (SELECT count(*) FROM events WHERE room_id = $1::uuid AND kind <> 'message.created') AS events`
const SAMPLE = "SELECT seq FROM messages WHERE room_id = $1::uuid ORDER BY random() LIMIT $2::bigint"
const COUNT_MESSAGES = "SELECT count(*) AS n FROM messages_by_room WHERE room_id = ? AND bucket = ?"
const COUNT_EVENTS = "SELECT count(*) AS n FROM events_by_room WHERE room_id = ? AND bucket = ?"

const PAGE = 500
const FIELDS = ["id", "sender", "body", "ts", "replyTo", "clientMsgId", "editedAt", "deleted", "reactions"] as const
/** Fields whose values may be printed; bodies never are. */
const PRINTABLE: ReadonlySet<string> = new Set(["id", "sender", "ts", "replyTo", "clientMsgId", "editedAt", "deleted"])

const pg = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

const scyllaCount = (cql: CqlClient, query: string, room: RoomId, lastSeq: number) =>
  Effect.map(
    Effect.forEach(
      Array.from({ length: Math.floor(lastSeq / BUCKET_SIZE) + 1 }, (_, b) => b),
      (bucket) => Effect.map(cql.rows("verify", query, [room, bucket]), ([row]) => Number(String(row?.n ?? 0))),
      { concurrency: 8 }
    ),
    (ns) => ns.reduce((a, b) => a + b, 0)
  )

const show = (v: unknown) => (v === undefined ? "(none)" : JSON.stringify(v))

/** One message read through a store's history: seq is the newest below seq + 1. */
const messageAt = (store: ChatStore, room: RoomId, seq: number) =>
  Effect.map(store.history(room, seq + 1, 1), (page) => page.messages.find((m) => m.seq === seq))

const compareMessage = (room: RoomId, seq: number, a: Message | undefined, b: Message | undefined): Mismatch | undefined => {
  if (a === undefined || b === undefined) {
    return a === b ? undefined : { room, what: `message ${seq}`, postgres: a ? "present" : "missing", scylla: b ? "present" : "missing" }
  }
  const differ = FIELDS.filter((f) => JSON.stringify(a[f] ?? null) !== JSON.stringify(b[f] ?? null))
  if (differ.length === 0) return undefined
  const printable = differ.filter((f) => PRINTABLE.has(f))
  return {
    room,
    what: `message ${seq}: ${differ.join(", ")}`,
    postgres: printable.map((f) => `${f}=${show(a[f])}`).join(" "),
    scylla: printable.map((f) => `${f}=${show(b[f])}`).join(" ")
  }
}

const verifyRoom = (options: VerifyOptions, room: RoomId) =>
  Effect.gen(function* () {
    const out: Array<Mismatch> = []
    const differs = (what: string, p: unknown, s: unknown) => {
      if (JSON.stringify(p) !== JSON.stringify(s)) out.push({ room, what, postgres: String(p), scylla: String(s) })
    }
    const pgHead = yield* options.postgres.loadRoom(room)
    // A decrypt or read failure on the ScyllaDB side is a finding, not a reason to stop.
    const scHead = yield* Effect.either(options.scylla.loadRoom(room))
    if (Option.isNone(pgHead)) return { mismatches: out, sampled: 0 }
    const p = pgHead.value
    if (scHead._tag === "Left" || Option.isNone(scHead.right)) {
      out.push({ room, what: "room", postgres: "present", scylla: scHead._tag === "Left" ? "unreadable" : "missing" })
      return { mismatches: out, sampled: 0 }
    }
    const s = scHead.right.value
    differs("lastSeq", p.room.lastSeq, s.room.lastSeq)
    differs("kind", p.room.kind, s.room.kind)
    differs("name", p.room.name ?? "", s.room.name ?? "")
    const roles = (m: ReadonlyMap<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([u, r]) => `${u}:${r}`).join(",")
    differs("members (count)", p.members.size, s.members.size)
    if (p.members.size === s.members.size) differs("members", roles(p.members), roles(s.members))

    const [counts] = yield* pg("verify.counts", () => options.db.query(COUNTS, [room]))
    const head = yield* loadHead(options.cql, "verify", room)
    const lastSeq = Math.max(p.room.lastSeq, head?.lastSeq ?? 0)
    const [messages, events] = yield* Effect.all(
      [scyllaCount(options.cql, COUNT_MESSAGES, room, lastSeq), scyllaCount(options.cql, COUNT_EVENTS, room, lastSeq)],
      { concurrency: 2 }
    )
    differs("messages (count)", Number(counts.messages), messages)
    differs("events (count)", Number(counts.events), events)

    const [pk, sk] = yield* Effect.all([options.postgres.roomKeys(room), Effect.either(options.scylla.roomKeys(room))])
    const keyIds = (ks: ReadonlyArray<{ keyId: string; wrapped: string; masterKeyId: string }>) =>
      ks.map((k) => `${k.keyId}/${k.masterKeyId}/${k.wrapped.length}`).sort().join(",")
    if (sk._tag === "Left") out.push({ room, what: "room keys", postgres: String(pk.length), scylla: "unreadable" })
    else differs("room keys", keyIds(pk), keyIds(sk.right))

    const sample = (yield* pg("verify.sample", () => options.db.query(SAMPLE, [room, options.samplePerRoom ?? 20]))).map(
      (r) => Number(r.seq)
    )
    for (const seq of sample) {
      const a = yield* messageAt(options.postgres, room, seq)
      const b = yield* Effect.either(messageAt(options.scylla, room, seq))
      if (b._tag === "Left") {
        out.push({ room, what: `message ${seq}: unreadable (${b.left.operation})`, postgres: "", scylla: "" })
        continue
      }
      const m = compareMessage(room, seq, a, b.right)
      if (m !== undefined) out.push(m)
    }
    return { mismatches: out, sampled: sample.length }
  })

export const verify = (options: VerifyOptions): Effect.Effect<VerifyReport, StoreError> =>
  Effect.gen(function* () {
    const mismatches: Array<Mismatch> = []
    let rooms = 0
    let sampled = 0
    const check = (ids: ReadonlyArray<RoomId>) =>
      Effect.forEach(
        ids,
        (room) =>
          Effect.map(verifyRoom(options, room), (r) => {
            rooms += 1
            sampled += r.sampled
            mismatches.push(...r.mismatches)
          }),
        { concurrency: 4, discard: true }
      )
    if (options.rooms !== undefined) yield* check(options.rooms)
    else {
      let after: string | null = null
      while (true) {
        const ids = (yield* pg("verify.rooms", () => options.db.query(ROOM_IDS, [after, PAGE]))).map((r) => String(r.id) as RoomId)
        yield* check(ids)
        if (ids.length < PAGE) break
        after = ids[ids.length - 1]
      }
    }
    return { rooms, sampled, mismatches }
  })

export const formatReport = (report: VerifyReport): string => {
  const lines = [
    `verify: ${report.rooms} rooms checked, ${report.sampled} messages compared after decryption, ${report.mismatches.length} mismatches`
  ]
  for (const m of report.mismatches) {
    const values = m.postgres === "" && m.scylla === "" ? "" : `  postgres: ${m.postgres}  scylla: ${m.scylla}`
    lines.push(`  room ${m.room}: ${m.what}${values}`)
  }
  return lines.join("\n")
}
