/**
 * The writes of a batch's intent (storage/scylla/intent.ts), without a database: each group
 * is one partition (it is sent as one unlogged batch), and every cell carries the batch's write
 * timestamp, except read positions, whose timestamp is the seq (see schema.cql). These are what
 * make re-applying an intent after a crash harmless.
 */
import { describe, expect, it } from "vitest"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import type { WriteOp } from "../../core/ops.ts"
import { plan } from "../../core/plan.ts"
import type { StoredMessage } from "../../core/plan.ts"
import { decodeIntent, encodeIntent, intentWrites, makeIntent } from "../../storage/scylla/intent.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { splitCql } from "../../storage/scylla/schema.ts"
import * as S from "../../storage/scylla/statements.ts"

const room = crypto.randomUUID() as RoomId
const [ann, bob, cat] = ["ann", "bob", "cat"] as Array<UserId>

/** The value bound to each column (and to USING TIMESTAMP) by one statement. */
const bindings = (cql: string, params: ReadonlyArray<unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const insert = /INSERT INTO \w+\s*\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)/i.exec(cql)
  let i = 0
  if (insert !== null) {
    const columns = insert[1].split(",").map((c) => c.trim())
    insert[2].split(",").forEach((v, k) => {
      if (v.trim() === "?") out[columns[k]] = params[i++]
    })
  }
  const rest = insert === null ? cql : cql.slice(cql.indexOf(insert[0]) + insert[0].length)
  for (const m of rest.matchAll(/(\w+)\s*(?:=|IN)?\s*\?/g)) out[m[1] === "TIMESTAMP" ? "@timestamp" : m[1]] = params[i++]
  return out
}

const partitionKeys = new Map(
  splitCql(loadSchemaCql()).flatMap((s) => {
    const table = /CREATE TABLE IF NOT EXISTS (\w+)/.exec(s)?.[1]
    const pk = /PRIMARY KEY \(\(([^)]*)\)/.exec(s)?.[1]
    return table !== undefined && pk !== undefined ? [[table, pk.split(",").map((c) => c.trim())] as const] : []
  })
)

const tableOf = (cql: string) => /\b(?:FROM|INTO|UPDATE)\s+(\w+)/.exec(cql)![1]

describe("scylla intents", () => {
  // A batch across a bucket boundary (seqs 998..1005) touching every kind of row.
  const old: StoredMessage = { seq: 5, id: crypto.randomUUID(), sender: ann, body: "old", ts: "2024-01-01T00:00:00.000Z", clientMsgId: "o", deleted: false }
  const doomed: StoredMessage = { ...old, seq: 6, clientMsgId: "d" }
  const members = new Map<UserId, Role>([
    [ann, "owner"],
    [bob, "member"]
  ])
  const send = (i: number): WriteOp => ({ _tag: "Send", actor: ann, messageId: crypto.randomUUID(), clientMsgId: `c${i}`, body: `m${i}` })
  const p = plan({
    room,
    kind: "group",
    lastSeq: 997,
    members,
    ops: [
      send(1),
      send(2),
      { _tag: "Edit", actor: ann, seq: 5, body: "edited" },
      { _tag: "Delete", actor: ann, seq: 6 },
      { _tag: "React", actor: bob, seq: 5, emoji: "👍", remove: false },
      { _tag: "AddMembers", actor: ann, users: [cat] },
      { _tag: "RemoveMember", actor: bob, user: bob },
      send(3)
    ],
    targets: new Map([
      [5, old],
      [6, doomed]
    ]),
    sent: new Map(),
    reactions: new Set(),
    now: "2024-05-01T10:00:00.000Z"
  })
  const writeTs = 1_714_557_600_000_000
  const intent = makeIntent(p, members, crypto.randomUUID(), writeTs, "2024-05-01T10:00:00.000Z")
  const groups = intentWrites(room, intent)

  it("intent - survives its JSON form unchanged", () => {
    expect(p.lastSeq).toBe(1005)
    expect(decodeIntent(encodeIntent(intent))).toEqual(JSON.parse(JSON.stringify(intent)))
  })

  it("intent - each group of writes stays inside one partition", () => {
    expect(groups.length).toBeGreaterThan(5)
    for (const group of groups) {
      const table = tableOf(group[0].query)
      const pk = partitionKeys.get(table)!
      const keyOf = (b: Record<string, unknown>) => JSON.stringify(pk.map((c) => b[c]))
      const first = keyOf(bindings(group[0].query, group[0].params))
      for (const s of group) {
        for (const column of pk) expect(bindings(s.query, s.params)[column], `${column} in ${s.query}`).toBeDefined()
        expect(tableOf(s.query)).toBe(table)
        expect(keyOf(bindings(s.query, s.params))).toBe(first)
      }
    }
    // The messages of the batch straddle buckets 0 and 1: two message partitions at least.
    const messageBuckets = new Set(
      groups.flat().filter((s) => s.query === S.INSERT_MESSAGE).map((s) => bindings(s.query, s.params).bucket)
    )
    expect(messageBuckets).toEqual(new Set([0, 1]))
  })

  it("intent - every cell carries the batch's write timestamp; read positions carry their seq", () => {
    for (const s of groups.flat()) {
      const b = bindings(s.query, s.params)
      expect(b["@timestamp"], s.query).toBe(s.query === S.ADVANCE_READ ? b.read_seq : writeTs)
    }
    const reads = groups.flat().filter((s) => s.query === S.ADVANCE_READ)
    expect(reads.map((s) => bindings(s.query, s.params))).toEqual([
      { "@timestamp": 1005, read_seq: 1005, user_id: cat, room_id: room }
    ])
  })

  it("intent - absent optional columns are left unset, never written as null", () => {
    const inserts = groups.flat().filter((s) => s.query === S.INSERT_MESSAGE || s.query === S.INSERT_EVENT)
    for (const s of inserts) {
      const b = bindings(s.query, s.params)
      for (const [column, value] of Object.entries(b)) {
        // Only a deleted message's body is a deliberate null (the erasure).
        if (value === null) expect([column, b.deleted]).toEqual(["body", true])
      }
    }
  })
})
