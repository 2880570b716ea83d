/**
 * The contract on the ScyllaDB store, against the run's CQL server (Apache Cassandra, started
 * by globalSetup). Creating a keyspace's tables costs seconds, so the file shares one fresh
 * keyspace (its tests isolate themselves by room and user, as on PGlite) and drops it at the
 * end; tests that need an empty keyspace make their own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import { type ChatStore, ChatStoreTag } from "../../storage/ChatStore.ts"
import type { WriteOp } from "../../core/ops.ts"
import { type CqlClient, makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { encodeIntent, makeIntent } from "../../storage/scylla/intent.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { layer, makeScyllaStore, makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { plan } from "../../core/plan.ts"
import { num } from "../../storage/scylla/rows.ts"
import * as S from "../../storage/scylla/statements.ts"
import { cassandraContactPoint, dropKeyspace, freshKeyspace, scopedKeyspace } from "../support/cassandraKeyspace.ts"
import { storeContract } from "./store.contract.ts"

const keyspace = freshKeyspace()
const options = () => ({
  contactPoints: [cassandraContactPoint()],
  keyspace,
  localDc: "datacenter1",
  // The test keyspace has one replica, so every level reads and writes the same copy.
  consistency: "ONE" as const,
  schema: loadSchemaCql()
})

/** One session for the file, opened (and the schema applied) once. */
let shared: { store: ChatStore; cql: CqlClient; close: () => Promise<void> }

beforeAll(async () => {
  const scope = Effect.runSync(Scope.make())
  const store = await Effect.runPromise(Scope.extend(makeScyllaStore(options()), scope))
  const cql = await Effect.runPromise(
    Scope.extend(
      Effect.tap(makeCqlClient({ ...options() }), (c) => c.ddl("test", `USE ${keyspace}`)),
      scope
    )
  )
  shared = { store, cql, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}, 120_000)

afterAll(async () => {
  await shared?.close()
  await dropKeyspace(keyspace)
}, 60_000)

storeContract(
  "scylla",
  Effect.sync(() => ({ store: shared.store, intentsWithoutDevices: true }))
)

const send = (actor: UserId, body: string, clientMsgId: string): WriteOp => ({
  _tag: "Send",
  actor,
  messageId: crypto.randomUUID(),
  clientMsgId,
  body
})

describe("scylla store", () => {
  it.scoped("commit - a batch whose writer died after its claim is written by the next reader of the room, once", () =>
    Effect.gen(function* () {
      const { cql } = shared
      const ann = `ann-${crypto.randomUUID()}` as UserId
      const room = yield* shared.store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
      const members = new Map<UserId, Role>([[ann, "owner"]])
      yield* shared.store.commit(room.id, 0, members, [send(ann, "before", "c0")])

      // What a writer does up to its claim, and then nothing: the process "dies" before writing rows.
      const [head] = yield* cql.rows("test", S.LOAD_HEAD, [room.id])
      const now = new Date().toISOString()
      const p = plan({
        room: room.id,
        kind: "group",
        lastSeq: 1,
        members,
        ops: [send(ann, "claimed, never written", "c1"), { _tag: "Rename", actor: ann, name: "renamed" }],
        targets: new Map(),
        sent: new Map(),
        reactions: new Set(),
        now
      })
      const intent = makeIntent(p, members, crypto.randomUUID(), Date.now() * 1000 + 1_000_000, now)
      const claimed = yield* cql.lwt("test", [
        {
          query: S.CLAIM,
          params: [p.lastSeq, 0, num(head.version) + 1, intent.writeTs, intent.commitId, encodeIntent(intent), "renamed", new Date(now), room.id, num(head.version)]
        }
      ])
      expect(claimed._tag).toBe("Applied")
      const before = yield* cql.rows("test", S.MESSAGES_BEFORE, [room.id, 0, 100, 10])
      expect(before.length).toBe(1)

      // A new node (a fresh store on the same keyspace) loads the room: the batch is there, whole.
      const other = makeScyllaStoreOn(cql)
      const loaded = Option.getOrThrow(yield* other.loadRoom(room.id))
      expect(loaded.room).toMatchObject({ lastSeq: 3, name: "renamed" })
      const page = yield* other.history(room.id, undefined, 10)
      expect(page.messages.map((m) => [m.seq, m.body])).toEqual([
        [2, "claimed, never written"],
        [1, "before"]
      ])
      expect((yield* other.events(room.id, 0, 100, 100)).map((e) => e.kind)).toEqual([
        "message.created",
        "message.created",
        "room.updated"
      ])
      // The send counts for idempotency, and the next batch goes on from seq 4.
      const again = yield* other.commit(room.id, 0, loaded.members, [send(ann, "claimed, never written", "c1"), send(ann, "after", "c2")])
      expect(again.map((r) => (r._tag === "Rejected" ? r._tag : [r._tag, r.ack.seq]))).toEqual([
        ["Duplicate", 2],
        ["Committed", 4]
      ])
    }))

  it.scoped("commit - writers in two processes racing for one room get gapless, unique seqs through the claim", () =>
    Effect.gen(function* () {
      // Two stores (their own room locks and applied-intent memory), as two nodes would have.
      const nodes = [makeScyllaStoreOn(shared.cql), makeScyllaStoreOn(shared.cql)]
      const senders = Array.from({ length: 4 }, (_, i) => `s${i}-${crypto.randomUUID()}` as UserId)
      const room = yield* nodes[0].createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: senders[0], members: senders.slice(1) })
      const members = Option.getOrThrow(yield* nodes[1].loadRoom(room.id)).members
      const batches = yield* Effect.forEach(
        senders,
        (sender, i) =>
          Effect.forEach(
            [0, 1, 2],
            (b) => nodes[i % 2].commit(room.id, 0, members, [send(sender, `${b}a`, `${b}a`), send(sender, `${b}b`, `${b}b`)]),
            { concurrency: 1 }
          ),
        { concurrency: "unbounded" }
      )
      const seqs = batches.flat(2).map((r) => (r._tag === "Rejected" ? -1 : r.ack.seq))
      expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
      for (const batch of batches.flat()) {
        const [a, b] = batch.map((r) => (r._tag === "Rejected" ? -1 : r.ack.seq))
        expect(b).toBe(a + 1)
      }
      expect((yield* nodes[1].events(room.id, 0, 100, 100)).map((e) => e.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
    }), 60_000)

  it.scoped("commit - a fenced writer's batch leaves no row behind", () =>
    Effect.gen(function* () {
      const { store, cql } = shared
      const ann = `ann-${crypto.randomUUID()}` as UserId
      const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
      const members = new Map<UserId, Role>([[ann, "owner"]])
      yield* store.commit(room.id, 4, members, [])
      const stale = yield* Effect.flip(store.commit(room.id, 3, members, [send(ann, "stale", "s1")]))
      expect(stale._tag).toBe("Fenced")
      expect(yield* cql.rows("test", S.MESSAGES_BEFORE, [room.id, 0, 100, 10])).toEqual([])
      expect(yield* cql.rows("test", S.EVENTS_BETWEEN, [room.id, 0, 0, 100, 10])).toEqual([])
      expect(yield* cql.rows("test", S.FIND_SEND, [room.id, ann, "s1"])).toEqual([])
    }))

  it.scoped("delete - the erased body is gone from the stored row and from the head's last intent", () =>
    Effect.gen(function* () {
      const { store, cql } = shared
      const ann = `ann-${crypto.randomUUID()}` as UserId
      const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
      const members = new Map<UserId, Role>([[ann, "owner"]])
      yield* store.commit(room.id, 0, members, [send(ann, "secret one", "d1")])
      yield* store.commit(room.id, 0, members, [{ _tag: "Edit", actor: ann, seq: 1, body: "secret two" }])
      yield* store.commit(room.id, 0, members, [{ _tag: "Delete", actor: ann, seq: 1 }, send(ann, "secret three", "d2"), { _tag: "Delete", actor: ann, seq: 4 }])
      const rows = yield* cql.rows("test", S.MESSAGES_BEFORE, [room.id, 0, 100, 10])
      expect(rows.map((r) => [num(r.seq), r.body, r.deleted])).toEqual([
        [4, null, true],
        [1, null, true]
      ])
      const [head] = yield* cql.rows("test", S.LOAD_HEAD, [room.id])
      expect(String(head.intent)).not.toContain("secret")
      const events = yield* cql.rows("test", S.EVENTS_BETWEEN, [room.id, 0, 0, 100, 100])
      expect(JSON.stringify(events)).not.toContain("secret")
    }))

  it.scoped("history and replay - cross bucket boundaries (1000 seqs per partition) in both directions", () =>
    Effect.gen(function* () {
      const { store } = shared
      const ann = `ann-${crypto.randomUUID()}` as UserId
      const room = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: ann, members: [] })
      const members = new Map<UserId, Role>([[ann, "owner"]])
      for (let b = 0; b < 5; b++) {
        yield* store.commit(room.id, 0, members, Array.from({ length: 250 }, (_, i) => send(ann, `m${b * 250 + i + 1}`, `k${b}.${i}`)))
      }
      const page = yield* store.history(room.id, 1003, 6)
      expect(page.messages.map((m) => m.seq)).toEqual([1002, 1001, 1000, 999, 998, 997])
      expect(page.hasMore).toBe(true)
      const replay = yield* store.events(room.id, 996, 1250, 6)
      expect(replay.map((e) => e.seq)).toEqual([997, 998, 999, 1000, 1001, 1002])
      const list = yield* store.listRooms(ann, undefined, 10)
      expect(list.rooms[0]).toMatchObject({ id: room.id, lastMessage: { seq: 1250 } })
    }), 60_000)

  it.scoped("layer - applies schema.cql to a new keyspace, answers ping, and a second start finds it in place", () =>
    Effect.gen(function* () {
      const ks = yield* scopedKeyspace
      const start = Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(layer({ ...options(), keyspace: ks }))
          const store = Context.get(context, ChatStoreTag)
          expect(store.name).toBe("scylla")
          yield* store.ping
        })
      )
      yield* start
      yield* start
    }), 120_000)

  it.scoped("connect - an unreachable contact point fails at start with a StoreError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        makeScyllaStore({ ...options(), contactPoints: ["127.0.0.1:1"], connectTimeoutMs: 2000 })
      )
      expect(error).toMatchObject({ _tag: "StoreError", operation: "connect" })
    }))

  it.scoped("schema - a keyspace name that is not a plain identifier is refused before any statement runs", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(makeScyllaStore({ ...options(), keyspace: "x; DROP KEYSPACE y" }))
      expect(error).toMatchObject({ _tag: "StoreError", operation: "schema" })
    }))
})
