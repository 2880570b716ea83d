/**
 * The hot reads are index range scans on PostgreSQL: history (messages by room, seq desc),
 * replay (events by room, seq), the room list (memberships by user) and its unread counts
 * (live messages by room after the read position). The test EXPLAINs the store's own SQL
 * text on a filled, analysed database with sequential scans priced out, and checks which
 * index each table is read through.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import type { WriteOp } from "../../core/ops.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import type { SqlDatabase } from "../../storage/sql/SqlClient.ts"
import { HISTORY_SQL, makeSqlStore, REPLAY_SQL, ROOM_LIST_SQL } from "../../storage/sql/SqlStore.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"

interface PlanNode {
  readonly "Node Type": string
  readonly "Relation Name"?: string
  readonly "Index Name"?: string
  readonly Plans?: ReadonlyArray<PlanNode>
}

/** The indexes under a bitmap heap scan (through BitmapAnd/BitmapOr). */
const bitmapIndexes = (node: PlanNode): Array<string> =>
  (node.Plans ?? []).flatMap((p) => (p["Index Name"] !== undefined ? [p["Index Name"]] : bitmapIndexes(p)))

/** Every table read in a plan, with the node that reads it and the indexes it uses. */
const scans = (node: PlanNode): Array<{ table: string; node: string; indexes: Array<string> }> => [
  ...(node["Relation Name"] !== undefined
    ? [
        {
          table: node["Relation Name"],
          node: node["Node Type"],
          indexes: node["Index Name"] !== undefined ? [node["Index Name"]] : bitmapIndexes(node)
        }
      ]
    : []),
  ...(node.Plans ?? []).flatMap(scans)
]

const explain = (db: SqlDatabase, sql: string, params: ReadonlyArray<unknown>) =>
  Effect.promise(() =>
    db.transaction(async (tx) => {
      await tx.query("SET LOCAL enable_seqscan = off")
      const [row] = await tx.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)
      const plan = row["QUERY PLAN"] as ReadonlyArray<{ Plan: PlanNode }>
      return scans(plan[0].Plan)
    })
  )

/** The indexes a table is read through; fails on any sequential scan. */
const indexesOf = (found: ReadonlyArray<{ table: string; node: string; indexes: Array<string> }>, table: string) => {
  const mine = found.filter((s) => s.table === table)
  expect(mine.length, `${table} is read`).toBeGreaterThan(0)
  for (const s of mine) expect(s.node, `${table} read by ${s.node}`).not.toBe("Seq Scan")
  return new Set(mine.flatMap((s) => s.indexes))
}

describe("postgres query plans", () => {
  it.scoped("history, replay, room list and unread counts are index range scans", () =>
    Effect.gen(function* () {
      const url = yield* scopedDatabase
      const db = yield* makePostgresDatabase({ url, poolSize: 2 })
      yield* migrate(db, loadMigrations())
      const store = makeSqlStore(db, "postgres")

      // 40 rooms shared by 10 users; the busy room gets 2,000 messages with deletes and reactions.
      const people = Array.from({ length: 10 }, (_, i) => `user-${i}` as UserId)
      const members = new Map<UserId, Role>(people.map((u, i) => [u, i === 0 ? "owner" : "member"]))
      const rooms: Array<RoomId> = []
      for (let r = 0; r < 40; r++) {
        const room = yield* store.createGroupRoom({
          id: crypto.randomUUID() as RoomId,
          name: `room ${r}`,
          owner: people[0],
          members: people.slice(1)
        })
        rooms.push(room.id)
      }
      const busy = rooms[0]
      for (let b = 0; b < 10; b++) {
        const ops: Array<WriteOp> = Array.from({ length: 200 }, (_, i) => ({
          _tag: "Send",
          actor: people[i % people.length],
          messageId: crypto.randomUUID(),
          clientMsgId: `m${b}.${i}`,
          body: `message ${b}.${i}`
        }))
        yield* store.commit(busy, 0, members, ops)
      }
      yield* store.commit(busy, 0, members, [
        ...Array.from({ length: 50 }, (_, i): WriteOp => ({ _tag: "Delete", actor: people[0], seq: 1 + i * 7 })),
        ...Array.from({ length: 50 }, (_, i): WriteOp => ({ _tag: "React", actor: people[1], seq: 2 + i * 7, emoji: "👍", remove: false }))
      ])
      for (const room of rooms.slice(1)) {
        yield* store.commit(room, 0, members, [
          { _tag: "Send", actor: people[1], messageId: crypto.randomUUID(), clientMsgId: "x", body: "hi" }
        ])
      }
      yield* store.markRead(busy, people[2], 1500)
      yield* Effect.promise(() => db.query("VACUUM ANALYZE"))

      const history = yield* explain(db, HISTORY_SQL, [busy, Number.MAX_SAFE_INTEGER, 51])
      expect(indexesOf(history, "messages")).toEqual(new Set(["messages_pkey"]))
      expect(indexesOf(history, "reactions")).toEqual(new Set(["reactions_pkey"]))

      const replay = yield* explain(db, REPLAY_SQL, [busy, 1000, 2100, 500])
      expect(indexesOf(replay, "events")).toEqual(new Set(["events_pkey"]))
      expect(indexesOf(replay, "messages")).toEqual(new Set(["messages_pkey"]))

      const list = yield* explain(db, ROOM_LIST_SQL, [people[2], null, null, null, 21])
      expect(indexesOf(list, "members")).toEqual(new Set(["members_by_user"]))
      expect(indexesOf(list, "rooms")).toEqual(new Set(["rooms_pkey"]))
      // Both the unread count and the last message are ranges of the live-messages index.
      expect(indexesOf(list, "messages")).toEqual(new Set(["messages_live"]))

      const page2 = yield* explain(db, ROOM_LIST_SQL, [people[2], false, new Date(0).toISOString(), busy, 21])
      expect(indexesOf(page2, "members")).toEqual(new Set(["members_by_user"]))
    }), 60_000)
})
