/**
 * The one contract every ChatStore passes (architecture invariant 7). Each test makes its own
 * rooms and users, so a store may be shared between tests (PGlite shares one per file).
 * Timestamps come from Effect's Clock: the TestClock starts at 0 and tests move it to
 * order activity, never sleeping.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Option, type Scope, TestClock } from "effect"
import { SYSTEM_SENDER, type Role, type RoomId, type UserId } from "../../core/model.ts"
import { commitNowOf, type ChatStore, type HistoryPage } from "../../storage/ChatStore.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { StoreError } from "../../core/errors.ts"
import type { PushIntent } from "../../storage/PushQueue.ts"

export interface StoreUnderTest {
  readonly store: ChatStore
  /** SQL stores: read rows directly, to check what is really stored. */
  readonly sql?: (text: string, params?: ReadonlyArray<unknown>) => Promise<ReadonlyArray<Record<string, unknown>>>
  /**
   * ScyllaDB writes a push intent for every batch that created messages; the other stores
   * only where a member of the room has a device (storage/PushQueue.ts).
   */
  readonly intentsWithoutDevices?: boolean
}

export type StoreFactory = Effect.Effect<StoreUnderTest, unknown, Scope.Scope>

const uuid = () => crypto.randomUUID() as RoomId
const users = (...names: Array<string>): Array<UserId> => {
  const tag = crypto.randomUUID().slice(0, 8)
  return names.map((n) => `${n}-${tag}` as UserId)
}

let clientIds = 0
const send = (actor: UserId, body: string, clientMsgId = `c${++clientIds}`, replyTo?: number): WriteOp => ({
  _tag: "Send",
  actor,
  messageId: crypto.randomUUID(),
  clientMsgId,
  body,
  ...(replyTo !== undefined ? { replyTo } : {})
})
const edit = (actor: UserId, seq: number, body: string): WriteOp => ({ _tag: "Edit", actor, seq, body })
const del = (actor: UserId, seq: number): WriteOp => ({ _tag: "Delete", actor, seq })
const react = (actor: UserId, seq: number, emoji: string, remove = false): WriteOp => ({
  _tag: "React",
  actor,
  seq,
  emoji,
  remove
})

/** Commits with the room's stored members and epoch, as a room actor would. */
const commit = (store: ChatStore, room: RoomId, ops: ReadonlyArray<WriteOp>) =>
  Effect.gen(function* () {
    const head = Option.getOrThrow(yield* store.loadRoom(room))
    return yield* store.commit(room, head.epoch, head.members, ops)
  })

/**
 * The same through `commitNow` (the room actor's plain path), or through `commitNowOf`'s
 * bridge for a store that has none: answered as an Exit, so a test reads it like `commit`.
 */
const commitNow = (store: ChatStore, room: RoomId, epoch: number, members: ReadonlyMap<UserId, Role>, ops: ReadonlyArray<WriteOp>) =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.async<ReadonlyArray<OpResult>, unknown>((resume) =>
      commitNowOf(store, runtime)(room, epoch, members, ops, undefined, (error, results) =>
        resume(error !== undefined ? Effect.fail(error) : Effect.succeed(results!))
      )
    )
  )

/**
 * `history`, and where the store has `historyNow` (its plain path) that too, which must
 * answer the same page: every history read of this contract checks both.
 */
const history = (store: ChatStore, room: RoomId, before: number | undefined, limit: number): Effect.Effect<HistoryPage, unknown> =>
  Effect.gen(function* () {
    const page = yield* store.history(room, before, limit)
    const now = store.historyNow
    if (now !== undefined) {
      const plain = yield* Effect.async<HistoryPage, StoreError>((resume) =>
        now(room, before, limit, (error, p) => resume(error !== undefined ? Effect.fail(error) : Effect.succeed(p!)))
      )
      expect(plain).toEqual(page)
    }
    return page
  })

const ackSeq = (r: OpResult): number => {
  if (r._tag === "Rejected") throw new Error(`rejected: ${r.error._tag} ${r.error.message}`)
  return r.ack.seq
}
const rejection = (r: OpResult) => (r._tag === "Rejected" ? r.error._tag : r._tag)

const group = (store: ChatStore, owner: UserId, members: ReadonlyArray<UserId>, name = "room") =>
  store.createGroupRoom({ id: uuid(), name, owner, members })

const allEvents = (store: ChatStore, room: RoomId) => store.events(room, 0, Number.MAX_SAFE_INTEGER, 10_000)

export const storeContract = (name: string, factory: StoreFactory) =>
  describe(`${name} store contract`, () => {
    it.scoped("rooms - a group room has its creator as owner, the listed users as members, seq 0 and epoch 0", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat] = users("ann", "bob", "cat")
        const room = yield* store.createGroupRoom({ id: uuid(), name: "Team", owner: ann, members: [bob, cat, ann] })
        expect(room.kind).toBe("group")
        expect(room.name).toBe("Team")
        expect(room.lastSeq).toBe(0)
        expect(room.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        expect(head.epoch).toBe(0)
        expect(new Map(head.members)).toEqual(
          new Map<UserId, Role>([
            [ann, "owner"],
            [bob, "member"],
            [cat, "member"]
          ])
        )
        expect(head.room).toEqual(room)
        expect(Option.isNone(yield* store.loadRoom(uuid()))).toBe(true)
        const m = Option.getOrThrow(yield* store.getMembership(room.id, bob))
        expect(m).toEqual({ role: "member", readSeq: 0, pinned: false })
        expect(Option.isNone(yield* store.getMembership(room.id, users("eve")[0]))).toBe(true)
      }))

    it.scoped("send - assigns seqs 1..n in batch order; acks carry the message id and the batch time", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        yield* TestClock.adjust("5 seconds")
        const ops = [send(ann, "one"), send(bob, "two"), send(ann, "three")]
        const results = yield* commit(store, room.id, ops)
        expect(results.map(ackSeq)).toEqual([1, 2, 3])
        for (const [i, r] of results.entries()) {
          expect(r._tag).toBe("Committed")
          if (r._tag !== "Committed") continue
          expect(r.ack).toEqual({ room: room.id, seq: i + 1, messageId: (ops[i] as { messageId: string }).messageId, ts: "1970-01-01T00:00:05.000Z" })
          expect(r.events.map((e) => e.kind)).toEqual(["message.created"])
        }
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        expect(head.room.lastSeq).toBe(3)
        const page = yield* history(store, room.id, undefined, 10)
        expect(page.messages.map((m) => [m.seq, m.sender, m.body])).toEqual([
          [3, ann, "three"],
          [2, bob, "two"],
          [1, ann, "one"]
        ])
      }))

    it.scoped("send - the same (room, sender, clientMsgId) twice in one batch stores one message and acks both alike", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const [ann] = users("ann")
        const room = yield* group(store, ann, [])
        const results = yield* commit(store, room.id, [send(ann, "hi", "same"), send(ann, "hi again", "same")])
        expect(results.map((r) => r._tag)).toEqual(["Committed", "Duplicate"])
        const [first, second] = results
        if (first._tag === "Rejected" || second._tag === "Rejected") throw new Error("unexpected rejection")
        expect(second.ack).toEqual(first.ack)
        expect((yield* history(store, room.id, undefined, 10)).messages.map((m) => m.body)).toEqual(["hi"])
        expect((yield* allEvents(store, room.id)).length).toBe(1)
        if (sql) {
          const rows = yield* Effect.promise(() => sql("SELECT count(*)::int AS n FROM messages WHERE room_id = $1", [room.id]))
          expect(rows[0].n).toBe(1)
        }
      }))

    it.scoped("send - text with quotes, backslashes, commas, braces or NULL in body, sender and clientMsgId is stored as given", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, odd] = users("ann", 'o"d\\d,{x}')
        const room = yield* group(store, ann, [odd])
        const tricky = ['say "hi"', "back\\slash\\", '\\"', "a,b {c} d", "NULL", "null", "héllo \u{1F44B}", " "]
        // Twice: the first batch after the room's load, then sends on a known head (the SQL
        // stores' one-statement path).
        for (const round of [1, 2]) {
          const ops = tricky.map((body, i) => send(i % 2 === 0 ? odd : ann, `${body}`, `${round}:${body}`))
          const results = yield* commit(store, room.id, ops)
          expect(results.map((r) => r._tag)).toEqual(tricky.map(() => "Committed"))
        }
        const messages = [...(yield* history(store, room.id, undefined, 50)).messages].sort((a, b) => a.seq - b.seq)
        expect(messages.map((m) => m.body)).toEqual([...tricky, ...tricky])
        expect(messages.map((m) => m.sender)).toEqual([...tricky, ...tricky].map((_, i) => (i % 2 === 0 ? odd : ann)))
        expect(messages.map((m) => m.clientMsgId)).toEqual([1, 2].flatMap((round) => tricky.map((body) => `${round}:${body}`)))
      }))

    it.scoped("send - a retried send in a later batch stores nothing and returns the first ack", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        const [first] = yield* commit(store, room.id, [send(ann, "hello", "retry-me")])
        yield* TestClock.adjust("1 minute")
        yield* commit(store, room.id, [send(bob, "in between")])
        const [again, other] = yield* commit(store, room.id, [send(ann, "hello", "retry-me"), send(bob, "x", "retry-me")])
        expect(again._tag).toBe("Duplicate")
        if (first._tag === "Rejected" || again._tag === "Rejected") throw new Error("unexpected rejection")
        expect(again.ack).toEqual(first.ack)
        // Another sender may use the same clientMsgId: keys are per sender.
        expect(ackSeq(other)).toBe(3)
        expect((yield* history(store, room.id, undefined, 10)).messages.length).toBe(3)
        expect((yield* allEvents(store, room.id)).map((e) => e.seq)).toEqual([1, 2, 3])
        if (sql) {
          const rows = yield* Effect.promise(() =>
            sql("SELECT count(*)::int AS n FROM messages WHERE room_id = $1 AND client_msg_id = 'retry-me'", [room.id])
          )
          expect(rows[0].n).toBe(2)
        }
      }))

    it.scoped("send - a clientMsgId the store cannot hold as given (unpaired surrogate) resent resolves to the first ack, never an error", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        // Stored as "k\ufffd" by SQL and CQL stores; the edge refuses it, the store must still not trip on it.
        const [first] = yield* commit(store, room.id, [send(ann, "one", "k\ud800")])
        const [again, other] = yield* commit(store, room.id, [send(ann, "one", "k\ud800"), send(bob, "two", "ok")])
        const [alike] = yield* commit(store, room.id, [send(ann, "one", "k\ufffd")])
        if (first._tag === "Rejected" || again._tag === "Rejected" || alike._tag === "Rejected") {
          throw new Error("unexpected rejection")
        }
        expect(first._tag).toBe("Committed")
        expect(again._tag).toBe("Duplicate")
        expect(again.ack).toEqual(first.ack)
        expect(alike.ack).toEqual(first.ack)
        expect(ackSeq(other)).toBe(2)
        expect((yield* allEvents(store, room.id)).map((e) => e.seq)).toEqual([1, 2])
      }))

    it.scoped("commit - an op the database refuses fails alone, and the rest of its batch commits in order", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        // PostgreSQL text cannot hold U+0000 (the edge refuses it; here it stands for any op
        // the database refuses). Stores that can hold it commit it like any other.
        const results = yield* commit(store, room.id, [send(ann, "a1"), send(bob, "b1", "nul\u0000id"), send(ann, "a2"), edit(ann, 1, "a1!")])
        expect(results[0]!._tag).toBe("Committed")
        expect(results[2]!._tag).toBe("Committed")
        expect(results[3]!._tag).toBe("Committed")
        if (sql) {
          expect(results[1]).toMatchObject({ _tag: "Rejected", error: { _tag: "BadRequest" } })
          expect(results.filter((r) => r._tag !== "Rejected").map(ackSeq)).toEqual([1, 2, 3])
          expect((yield* history(store, room.id, undefined, 10)).messages.map((m) => m.body)).toEqual(["a2", "a1!"])
        }
        // The room goes on taking writes at the next seq.
        const last = (yield* allEvents(store, room.id)).at(-1)!.seq
        expect((yield* commit(store, room.id, [send(bob, "later")])).map(ackSeq)).toEqual([last + 1])
      }))

    it.scoped("commitNow - answers as commit does: commits, a resend's first ack, an op the database refuses alone, Fenced", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        const first = send(ann, "a1", "k1")
        const results = yield* commitNow(store, room.id, head.epoch, head.members, [first, send(bob, "b1", "nul\u0000id"), send(ann, "a2")])
        expect(results[0]!._tag).toBe("Committed")
        expect(results[2]!._tag).toBe("Committed")
        if (sql) expect(results[1]).toMatchObject({ _tag: "Rejected", error: { _tag: "BadRequest" } })
        const again = yield* commitNow(store, room.id, head.epoch, head.members, [{ ...first, messageId: crypto.randomUUID() } as WriteOp])
        expect(again[0]).toEqual({ _tag: "Duplicate", ack: (results[0] as Extract<OpResult, { _tag: "Committed" }>).ack })
        // A newer epoch takes the room; the older one is refused and writes nothing.
        const last = (yield* allEvents(store, room.id)).at(-1)!.seq
        expect((yield* commitNow(store, room.id, 5, head.members, [send(ann, "from epoch 5")])).map(ackSeq)).toEqual([last + 1])
        const stale = yield* Effect.flip(commitNow(store, room.id, 4, head.members, [send(ann, "from epoch 4")]))
        expect(stale).toMatchObject({ _tag: "Fenced", room: room.id, epoch: 4, currentEpoch: 5 })
        expect((yield* allEvents(store, room.id)).at(-1)!.seq).toBe(last + 1)
      }))

    it.scoped("commitPreparedNow - ops made by prepare when the group is written; a prepare that throws fails its own batch only", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const prepared = store.commitPreparedNow
        // Only the SQL store groups batches; the others have commitNow or commit alone.
        if (!sql) return expect(prepared).toBeUndefined()
        const [ann, bob] = users("ann", "bob")
        const rooms = [yield* group(store, ann, [bob]), yield* group(store, ann, [bob]), yield* group(store, ann, [bob])]
        const heads = yield* Effect.forEach(rooms, (r) => Effect.map(store.loadRoom(r.id), Option.getOrThrow))
        const ops = [[send(ann, "a1"), send(bob, "a2")], [send(ann, "never")], [send(bob, "c1")]]
        let calls = 0
        const answers = yield* Effect.async<Array<{ error: unknown; results?: ReadonlyArray<OpResult> }>>((resume) => {
          const out: Array<{ error: unknown; results?: ReadonlyArray<OpResult> }> = []
          rooms.forEach((room, i) =>
            prepared!(
              room.id,
              heads[i]!.epoch,
              heads[i]!.members,
              undefined,
              () => {
                calls += 1
                if (i === 1) throw new Error("cannot make these ops")
                return ops[i]!
              },
              (error, results) => {
                out[i] = { error, results }
                if (Object.keys(out).length === rooms.length) resume(Effect.succeed(out))
              }
            )
          )
          // Handed over, not made yet: the store makes a batch's ops when it writes the group.
          expect(calls).toBe(0)
        })
        expect(answers[0]!.error).toBeUndefined()
        expect(answers[0]!.results!.map(ackSeq)).toEqual([heads[0]!.room.lastSeq + 1, heads[0]!.room.lastSeq + 2])
        expect(answers[1]!.error).toMatchObject({ _tag: "StoreError", operation: "commit" })
        expect(answers[2]!.error).toBeUndefined()
        expect(answers[2]!.results!.map(ackSeq)).toEqual([heads[2]!.room.lastSeq + 1])
        expect((yield* history(store, rooms[0]!.id, undefined, 10)).messages.map((m) => m.body)).toEqual(["a2", "a1"])
        expect((yield* history(store, rooms[1]!.id, undefined, 10)).messages).toEqual([])
        expect((yield* history(store, rooms[2]!.id, undefined, 10)).messages.map((m) => m.body)).toEqual(["c1"])
      }))

    it.scoped("send - concurrent committers to one room get gapless, unique seqs 1..N", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const senders = users("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8")
        const room = yield* group(store, senders[0], senders.slice(1))
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        const batches = 6
        const perBatch = 3
        const acks = yield* Effect.forEach(
          senders,
          (sender) =>
            Effect.forEach(
              Array.from({ length: batches }, (_, b) => b),
              (b) =>
                store.commit(
                  room.id,
                  0,
                  head.members,
                  Array.from({ length: perBatch }, (_, i) => send(sender, `${sender} ${b}.${i}`))
                ),
              { concurrency: 1 }
            ),
          { concurrency: "unbounded" }
        )
        const n = senders.length * batches * perBatch
        const seqs = acks.flat(2).map(ackSeq).sort((a, b) => a - b)
        expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1))
        // Each batch got a contiguous run of seqs, in op order.
        for (const batch of acks.flat()) {
          const s = batch.map(ackSeq)
          expect(s).toEqual(s.map((_, i) => s[0] + i))
        }
        expect((yield* allEvents(store, room.id)).map((e) => e.seq)).toEqual(seqs)
        expect(Option.getOrThrow(yield* store.loadRoom(room.id)).room.lastSeq).toBe(n)
      }))

    it.scoped("delete - a tombstone keeps its seq but erases the body from history, replay and storage", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        yield* commit(store, room.id, [send(ann, "secret one"), edit(ann, 1, "secret two")])
        // Sent and deleted in the same batch: the body must never reach storage.
        const [, , deleted] = yield* commit(store, room.id, [del(ann, 1), send(bob, "secret three"), del(bob, 4)])
        expect(deleted._tag).toBe("Committed")
        const page = yield* history(store, room.id, undefined, 10)
        expect(page.messages.map((m) => [m.seq, m.body, m.deleted])).toEqual([
          [4, "", true],
          [1, "", true]
        ])
        const events = yield* allEvents(store, room.id)
        expect(events.map((e) => e.kind)).toEqual([
          "message.created",
          "message.edited",
          "message.deleted",
          "message.created",
          "message.deleted"
        ])
        for (const e of events) expect(e.data).toMatchObject({ body: "", deleted: true })
        expect(JSON.stringify(events)).not.toContain("secret")
        if (sql) {
          const rows = yield* Effect.promise(() =>
            sql("SELECT seq, body, deleted FROM messages WHERE room_id = $1 ORDER BY seq", [room.id])
          )
          expect(rows.map((r) => [Number(r.seq), r.body, r.deleted])).toEqual([
            [1, null, true],
            [4, null, true]
          ])
          const leaks = yield* Effect.promise(() =>
            sql("SELECT count(*)::int AS n FROM events WHERE room_id = $1 AND data::text LIKE '%secret%'", [room.id])
          )
          expect(leaks[0].n).toBe(0)
        }
      }))

    it.scoped("edit - only the sender may edit, a deleted message cannot be edited (conflict), history shows body and editedAt", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        yield* commit(store, room.id, [send(bob, "draft"), send(bob, "to delete")])
        yield* TestClock.adjust("2 seconds")
        const results = yield* commit(store, room.id, [
          edit(ann, 1, "hijack"),
          edit(bob, 1, "final"),
          del(bob, 2),
          edit(bob, 2, "too late"),
          edit(bob, 99, "nothing there")
        ])
        expect(results.map(rejection)).toEqual(["Forbidden", "Committed", "Committed", "Conflict", "NotFound"])
        const [, edited] = results
        if (edited._tag !== "Committed") throw new Error("edit failed")
        expect(edited.ack.seq).toBe(3)
        expect(edited.events[0].data).toMatchObject({ seq: 1, body: "final", editedAt: "1970-01-01T00:00:02.000Z" })
        const [m2, m1] = (yield* history(store, room.id, undefined, 10)).messages
        expect(m1).toMatchObject({ seq: 1, body: "final", editedAt: "1970-01-01T00:00:02.000Z" })
        expect(m1.deleted).toBeUndefined()
        expect(m2).toMatchObject({ seq: 2, body: "", deleted: true })
      }))

    it.scoped("delete - the sender and room admins may delete; other members may not; deleting twice is no error", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat] = users("ann", "bob", "cat")
        const room = yield* group(store, ann, [bob, cat])
        yield* commit(store, room.id, [send(bob, "b1"), send(cat, "c1"), send(cat, "c2")])
        const results = yield* commit(store, room.id, [del(bob, 2), del(cat, 2), del(ann, 3), del(ann, 3), del(bob, 1)])
        expect(results.map(rejection)).toEqual(["Forbidden", "Committed", "Committed", "Committed", "Committed"])
        const twice = results[3]
        if (twice._tag !== "Committed") throw new Error("second delete failed")
        expect(twice.events).toEqual([])
        expect((yield* allEvents(store, room.id)).map((e) => e.kind)).toEqual([
          "message.created",
          "message.created",
          "message.created",
          "message.deleted",
          "message.deleted",
          "message.deleted"
        ])
      }))

    it.scoped("react - adds and removes once per user and emoji; history groups users per emoji in byte order", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat] = users("ann", "bob", "cat")
        const room = yield* group(store, ann, [bob, cat])
        yield* commit(store, room.id, [send(ann, "react to me"), send(ann, "gone")])
        const results = yield* commit(store, room.id, [
          react(cat, 1, "👍"),
          react(ann, 1, "👍"),
          react(ann, 1, "👍"),
          react(bob, 1, "🎉"),
          react(bob, 1, "🎉", true),
          react(bob, 1, "🎉", true),
          react(bob, 1, "❤️"),
          react(bob, 2, "👍"),
          react(bob, 3, "👍")
        ])
        expect(results.map(rejection)).toEqual([
          "Committed",
          "Committed",
          "Committed",
          "Committed",
          "Committed",
          "Committed",
          "Committed",
          "Committed",
          "NotFound"
        ])
        expect(results.map((r) => (r._tag === "Committed" ? r.events.map((e) => e.kind) : []))).toEqual([
          ["reaction.added"],
          ["reaction.added"],
          [],
          ["reaction.added"],
          ["reaction.removed"],
          [],
          ["reaction.added"],
          ["reaction.added"],
          []
        ])
        yield* commit(store, room.id, [del(ann, 2)])
        expect(rejection((yield* commit(store, room.id, [react(bob, 2, "👀")]))[0])).toBe("Conflict")
        const page = yield* history(store, room.id, undefined, 10)
        const one = page.messages.find((m) => m.seq === 1)!
        expect(one.reactions).toEqual({ "👍": [ann, cat], "❤️": [bob] })
        const two = page.messages.find((m) => m.seq === 2)!
        expect(two.reactions).toBeUndefined()
        const events = yield* store.events(room.id, 2, 3, 1)
        expect(events).toEqual([
          { room: room.id, seq: 3, ts: events[0].ts, kind: "reaction.added", actor: cat, data: { messageSeq: 1, emoji: "👍", user: cat } }
        ])
      }))

    it.scoped("rules - ops by non-members are rejected as not found and the rest of the batch commits", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, eve] = users("ann", "eve")
        const room = yield* group(store, ann, [])
        const results = yield* commit(store, room.id, [send(eve, "let me in"), send(ann, "ok"), send(ann, "reply", undefined, 7)])
        expect(results.map(rejection)).toEqual(["NotFound", "Committed", "BadRequest"])
        expect(ackSeq(results[1])).toBe(1)
        const unknown = yield* store.commit(uuid(), 0, new Map([[ann, "owner"]]), [send(ann, "nowhere")])
        expect(unknown.map(rejection)).toEqual(["NotFound"])
      }))

    it.scoped("reply - replyTo must name a message of the room and is kept on the message", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann] = users("ann")
        const room = yield* group(store, ann, [])
        const results = yield* commit(store, room.id, [send(ann, "q"), send(ann, "a", undefined, 1), send(ann, "?", undefined, 9)])
        expect(results.map(rejection)).toEqual(["Committed", "Committed", "BadRequest"])
        const [latest] = (yield* history(store, room.id, undefined, 1)).messages
        expect(latest).toMatchObject({ seq: 2, replyTo: 1, body: "a" })
      }))

    it.scoped("members - adding and removing members commits events and updates the room's head", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat, dan] = users("ann", "bob", "cat", "dan")
        const room = yield* group(store, ann, [bob])
        yield* commit(store, room.id, [send(ann, "before cat")])
        const results = yield* commit(store, room.id, [
          { _tag: "AddMembers", actor: bob, users: [dan] },
          { _tag: "AddMembers", actor: ann, users: [cat, bob, cat] },
          { _tag: "RemoveMember", actor: bob, user: ann },
          { _tag: "RemoveMember", actor: bob, user: bob },
          { _tag: "Rename", actor: ann, name: "Renamed" }
        ])
        expect(results.map(rejection)).toEqual(["Forbidden", "Committed", "Forbidden", "Committed", "Committed"])
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        expect(new Map(head.members)).toEqual(
          new Map<UserId, Role>([
            [ann, "owner"],
            [cat, "member"]
          ])
        )
        expect(head.room.name).toBe("Renamed")
        expect(head.room.lastSeq).toBe(4)
        // A new member starts caught up: earlier messages are not unread for them.
        const m = Option.getOrThrow(yield* store.getMembership(room.id, cat))
        expect(m.role).toBe("member")
        expect((yield* store.listRooms(cat, undefined, 10)).rooms[0]).toMatchObject({ id: room.id, unread: 0, name: "Renamed" })
        expect(Option.isNone(yield* store.getMembership(room.id, bob))).toBe(true)
        const events = yield* store.events(room.id, 1, 4, 10)
        expect(events.map((e) => [e.kind, e.data])).toEqual([
          ["member.joined", { user: cat, role: "member" }],
          ["member.left", { user: bob, role: "member" }],
          ["room.updated", { name: "Renamed" }]
        ])
      }))

    it.scoped("direct rooms - 20 concurrent calls for one pair make one room, exactly one of them created", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const calls = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => (i % 2 === 0 ? store.findOrCreateDirectRoom(ann, bob, uuid()) : store.findOrCreateDirectRoom(bob, ann, uuid())),
          { concurrency: "unbounded" }
        )
        expect(new Set(calls.map((c) => c.room.id)).size).toBe(1)
        expect(calls.filter((c) => c.created).length).toBe(1)
        const room = calls[0].room
        expect(room.kind).toBe("direct")
        expect(room.name).toBeUndefined()
        expect(new Map(room.members.map((m) => [m.user, m.role]))).toEqual(
          new Map<UserId, Role>([
            [ann, "member"],
            [bob, "member"]
          ])
        )
        const again = yield* store.findOrCreateDirectRoom(bob, ann, uuid())
        expect(again).toEqual({ room, created: false })
        const [cat] = users("cat")
        const other = yield* store.findOrCreateDirectRoom(ann, cat, uuid())
        expect(other.created).toBe(true)
        expect(other.room.id).not.toBe(room.id)
      }))

    it.scoped("direct rooms - members cannot be added, removed or renamed", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat] = users("ann", "bob", "cat")
        const { room } = yield* store.findOrCreateDirectRoom(ann, bob, uuid())
        const results = yield* commit(store, room.id, [
          { _tag: "AddMembers", actor: ann, users: [cat] },
          { _tag: "RemoveMember", actor: ann, user: ann },
          { _tag: "Rename", actor: ann, name: "x" },
          send(bob, "hi")
        ])
        expect(results.map(rejection)).toEqual(["Forbidden", "Forbidden", "Forbidden", "Committed"])
      }))

    it.scoped("fencing - an older epoch fails Fenced and writes nothing; a newer epoch is accepted and becomes the room's", () =>
      Effect.gen(function* () {
        const { store, sql } = yield* factory
        const [ann] = users("ann")
        const room = yield* group(store, ann, [])
        const members = new Map<UserId, Role>([[ann, "owner"]])
        expect((yield* store.commit(room.id, 3, members, [send(ann, "from epoch 3")])).map(ackSeq)).toEqual([1])
        expect(Option.getOrThrow(yield* store.loadRoom(room.id)).epoch).toBe(3)
        const stale = yield* Effect.flip(store.commit(room.id, 2, members, [send(ann, "from epoch 2")]))
        expect(stale).toMatchObject({ _tag: "Fenced", room: room.id, epoch: 2, currentEpoch: 3 })
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        expect(head.room.lastSeq).toBe(1)
        expect(head.epoch).toBe(3)
        expect((yield* allEvents(store, room.id)).length).toBe(1)
        if (sql) {
          const rows = yield* Effect.promise(() => sql("SELECT count(*)::int AS n FROM messages WHERE room_id = $1", [room.id]))
          expect(rows[0].n).toBe(1)
        }
        // A takeover claims the room even with an empty batch; the previous owner is then fenced.
        expect(yield* store.commit(room.id, 5, members, [])).toEqual([])
        expect(Option.getOrThrow(yield* store.loadRoom(room.id)).epoch).toBe(5)
        expect(yield* Effect.flip(store.commit(room.id, 3, members, [send(ann, "late")]))).toMatchObject({ _tag: "Fenced" })
        expect((yield* store.commit(room.id, 5, members, [send(ann, "new owner")])).map(ackSeq)).toEqual([2])
      }))

    it.scoped("fencing - a raised shard fence refuses older epochs for that shard's rooms, and a lower raise is refused", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann] = users("ann")
        const room = yield* group(store, ann, [])
        const members = new Map<UserId, Role>([[ann, "owner"]])
        const shard = 1000 + Math.floor(Math.random() * 1_000_000)
        expect((yield* store.commit(room.id, 7, members, [send(ann, "owner 7")], shard)).map(ackSeq)).toEqual([1])
        yield* store.fenceShard(shard, 9)
        const stale = yield* Effect.flip(store.commit(room.id, 8, members, [send(ann, "owner 8 is stale")], shard))
        expect(stale).toMatchObject({ _tag: "Fenced", epoch: 8, currentEpoch: 9 })
        expect((yield* allEvents(store, room.id)).length).toBe(1)
        // Another shard's fence does not concern this room; a lower raise is refused and changes nothing.
        yield* store.fenceShard(shard + 1, 100)
        expect(yield* Effect.flip(store.fenceShard(shard, 3))).toMatchObject({ _tag: "Fenced", currentEpoch: 9 })
        expect((yield* store.commit(room.id, 9, members, [send(ann, "owner 9")], shard)).map(ackSeq)).toEqual([2])
      }))

    it.scoped("events - replay honours after, upTo and limit; message events show the message as it is now", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        yield* commit(store, room.id, [send(ann, "m1"), send(bob, "m2"), send(ann, "m3")])
        yield* TestClock.adjust("1 second")
        yield* commit(store, room.id, [edit(ann, 1, "m1 edited"), react(bob, 1, "👍"), send(bob, "m6")])
        const all = yield* allEvents(store, room.id)
        expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
        expect(all[0]).toEqual({
          room: room.id,
          seq: 1,
          ts: "1970-01-01T00:00:00.000Z",
          kind: "message.created",
          actor: ann,
          data: {
            seq: 1,
            id: (all[0].data as { id: string }).id,
            room: room.id,
            sender: ann,
            body: "m1 edited",
            ts: "1970-01-01T00:00:00.000Z",
            clientMsgId: (all[0].data as { clientMsgId: string }).clientMsgId,
            editedAt: "1970-01-01T00:00:01.000Z"
          }
        })
        expect(all[3]).toMatchObject({ kind: "message.edited", ts: "1970-01-01T00:00:01.000Z", data: { seq: 1, body: "m1 edited" } })
        expect((yield* store.events(room.id, 2, 5, 100)).map((e) => e.seq)).toEqual([3, 4, 5])
        expect((yield* store.events(room.id, 2, 6, 2)).map((e) => e.seq)).toEqual([3, 4])
        expect((yield* store.events(room.id, 6, 100, 10)).length).toBe(0)
        expect((yield* store.events(uuid(), 0, 100, 10)).length).toBe(0)
      }))

    it.scoped("history - pages newest first with before and hasMore", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann] = users("ann")
        const room = yield* group(store, ann, [])
        yield* commit(store, room.id, Array.from({ length: 7 }, (_, i) => send(ann, `m${i + 1}`)))
        const first = yield* history(store, room.id, undefined, 3)
        expect(first.messages.map((m) => m.seq)).toEqual([7, 6, 5])
        expect(first.hasMore).toBe(true)
        const second = yield* history(store, room.id, 5, 3)
        expect(second.messages.map((m) => m.seq)).toEqual([4, 3, 2])
        expect(second.hasMore).toBe(true)
        const last = yield* history(store, room.id, 2, 3)
        expect(last.messages.map((m) => m.seq)).toEqual([1])
        expect(last.hasMore).toBe(false)
        expect(yield* history(store, room.id, 4, 3)).toMatchObject({ hasMore: false })
        expect(yield* history(store, uuid(), undefined, 3)).toEqual({ messages: [], hasMore: false })
      }))

    it.scoped("unread - counts messages after the read position that the reader did not send and that are not deleted", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        yield* commit(store, room.id, [send(ann, "a1"), send(bob, "b1"), send(ann, "a2"), send(ann, "a3"), react(bob, 1, "👍")])
        const unread = (user: UserId) =>
          Effect.map(store.listRooms(user, undefined, 10), (p) => p.rooms.find((r) => r.id === room.id)!.unread)
        expect(yield* unread(bob)).toBe(3)
        expect(yield* unread(ann)).toBe(1)
        yield* commit(store, room.id, [del(ann, 3)])
        expect(yield* unread(bob)).toBe(2)
        expect(yield* store.markRead(room.id, bob, 3)).toEqual({ seq: 3, marked: 1 })
        expect(yield* unread(bob)).toBe(1)
        expect(yield* store.markRead(room.id, bob, 6)).toEqual({ seq: 6, marked: 1 })
        expect(yield* unread(bob)).toBe(0)
      }))

    it.scoped("markRead - moves forward only and never past the room's last seq", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, eve] = users("ann", "bob", "eve")
        const room = yield* group(store, ann, [bob])
        yield* commit(store, room.id, [send(ann, "1"), send(ann, "2"), send(ann, "3"), send(ann, "4")])
        expect((yield* store.markRead(room.id, bob, 3)).seq).toBe(3)
        expect((yield* store.markRead(room.id, bob, 2)).seq).toBe(3)
        expect((yield* store.markRead(room.id, bob, 100)).seq).toBe(4)
        expect(Option.getOrThrow(yield* store.getMembership(room.id, bob)).readSeq).toBe(4)
        expect(yield* store.markRead(room.id, eve, 2)).toEqual({ seq: 0, marked: 0 })
        expect(Option.isNone(yield* store.getMembership(room.id, eve))).toBe(true)
      }))

    it.scoped("markRead - marked counts the messages moved over that others sent and that are not deleted; 0 when the position does not move", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const room = yield* group(store, ann, [bob])
        // 1 ann, 2 bob (own), 3 ann (deleted below, seq 7), 4 ann, 5 reaction, 6 ann
        yield* commit(store, room.id, [send(ann, "1"), send(bob, "2"), send(ann, "3"), send(ann, "4"), react(bob, 1, "👍"), send(ann, "6")])
        yield* commit(store, room.id, [del(ann, 3)])
        expect(yield* store.markRead(room.id, bob, 2)).toEqual({ seq: 2, marked: 1 })
        // Moving back or standing still marks nothing.
        expect(yield* store.markRead(room.id, bob, 1)).toEqual({ seq: 2, marked: 0 })
        expect(yield* store.markRead(room.id, bob, 2)).toEqual({ seq: 2, marked: 0 })
        // 3 is deleted and 5 and 7 are no messages: only 4 and 6 count; capped at the head (7).
        expect(yield* store.markRead(room.id, bob, 100)).toEqual({ seq: 7, marked: 2 })
        expect(yield* store.markRead(room.id, bob, 100)).toEqual({ seq: 7, marked: 0 })
        // The sender's own messages never count.
        expect(yield* store.markRead(room.id, ann, 7)).toEqual({ seq: 7, marked: 1 })
      }))

    it.scoped("send as the system - reaches a room it is no member of, as sender \"system\", idempotently; only a flagged op may use that sender", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, eve] = users("ann", "bob", "eve")
        const room = yield* group(store, ann, [bob])
        const flagged = (actor: UserId, body: string, clientMsgId: string): WriteOp => ({
          _tag: "Send",
          actor,
          system: true,
          messageId: crypto.randomUUID(),
          clientMsgId,
          body
        })
        const system = (body: string, clientMsgId: string) => flagged(SYSTEM_SENDER, body, clientMsgId)
        const [first, again, unflagged, impostor] = yield* commit(store, room.id, [
          system("maintenance at 22:00", "notice-1"),
          system("maintenance at 22:00", "notice-1"),
          send(SYSTEM_SENDER, "not flagged", "notice-2"),
          // The flag does not make another sender's send legal.
          flagged(eve, "eve", "notice-3")
        ])
        expect(first._tag).toBe("Committed")
        expect(ackSeq(first)).toBe(1)
        expect(again).toEqual({ _tag: "Duplicate", ack: first._tag === "Committed" ? first.ack : undefined })
        expect(rejection(unflagged)).toBe("NotFound")
        expect(rejection(impostor)).toBe("NotFound")
        // A member replies to it and reacts to it; an admin may delete it.
        const [reply, reaction] = yield* commit(store, room.id, [send(bob, "ok", undefined, 1), react(bob, 1, "👍")])
        expect([rejection(reply), rejection(reaction)]).toEqual(["Committed", "Committed"])
        const events = yield* allEvents(store, room.id)
        expect(events[0]).toMatchObject({ seq: 1, kind: "message.created", actor: SYSTEM_SENDER, data: { sender: SYSTEM_SENDER, body: "maintenance at 22:00" } })
        const page = yield* history(store, room.id, undefined, 10)
        expect(page.messages.map((m) => [m.seq, m.sender])).toEqual([[2, bob], [1, SYSTEM_SENDER]])
        // The system is no member, and its messages are unread for every member.
        const head = Option.getOrThrow(yield* store.loadRoom(room.id))
        expect(head.members.has(SYSTEM_SENDER)).toBe(false)
        const list = yield* store.listRooms(ann, undefined, 10)
        expect(list.rooms.find((r) => r.id === room.id)).toMatchObject({ unread: 2, lastMessage: { seq: 2, sender: bob } })
        expect(yield* store.markRead(room.id, ann, 3)).toEqual({ seq: 3, marked: 2 })
        const [removed] = yield* commit(store, room.id, [del(ann, 1)])
        expect(rejection(removed)).toBe("Committed")
      }))

    it.scoped("room list - pinned first, then latest activity; the last message is the newest one not deleted", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const quiet = yield* group(store, ann, [bob], "quiet")
        yield* TestClock.adjust("1 second")
        const busy = yield* group(store, ann, [bob], "busy")
        yield* TestClock.adjust("1 second")
        const pinned = yield* group(store, ann, [], "pinned")
        yield* TestClock.adjust("1 second")
        yield* commit(store, busy.id, [send(bob, "first"), send(bob, "second")])
        yield* TestClock.adjust("1 second")
        yield* commit(store, quiet.id, [send(ann, "wake up")])
        yield* commit(store, quiet.id, [del(ann, 1)])
        yield* store.setPinned(pinned.id, ann, true)
        const page = yield* store.listRooms(ann, undefined, 10)
        expect(page.nextCursor).toBeUndefined()
        expect(page.rooms.map((r) => r.name)).toEqual(["pinned", "quiet", "busy"])
        expect(page.rooms[0]).toEqual({
          id: pinned.id,
          kind: "group",
          name: "pinned",
          pinned: true,
          unread: 0,
          lastActivityAt: "1970-01-01T00:00:02.000Z"
        })
        expect(page.rooms[1]).toMatchObject({ pinned: false, unread: 0, lastActivityAt: "1970-01-01T00:00:04.000Z" })
        expect(page.rooms[1].lastMessage).toBeUndefined()
        expect(page.rooms[2]).toMatchObject({
          unread: 2,
          lastActivityAt: "1970-01-01T00:00:03.000Z",
          lastMessage: { seq: 2, sender: bob, body: "second", ts: "1970-01-01T00:00:03.000Z" }
        })
        yield* store.setPinned(pinned.id, ann, false)
        expect((yield* store.listRooms(ann, undefined, 10)).rooms.map((r) => r.name)).toEqual(["quiet", "busy", "pinned"])
        expect((yield* store.listRooms(bob, undefined, 10)).rooms.map((r) => r.name)).toEqual(["quiet", "busy"])
      }))

    it.scoped("room list - walking every page with a small limit visits each room exactly once, in order", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const made: Array<RoomId> = []
        for (let i = 0; i < 11; i++) {
          // Rooms 0..3 share one creation time: their order is decided by id alone.
          if (i >= 4) yield* TestClock.adjust("1 second")
          made.push((yield* group(store, ann, [bob], `r${i}`)).id)
        }
        yield* TestClock.adjust("1 second")
        yield* commit(store, made[2], [send(bob, "activity")])
        for (const i of [5, 9, 0]) yield* store.setPinned(made[i], ann, true)
        const walk = (limit: number) =>
          Effect.gen(function* () {
            const seen: Array<RoomId> = []
            let cursor: string | undefined
            for (let pages = 0; pages < 50; pages++) {
              const page = yield* store.listRooms(ann, cursor, limit)
              expect(page.rooms.length).toBeLessThanOrEqual(limit)
              seen.push(...page.rooms.map((r) => r.id))
              cursor = page.nextCursor
              if (cursor === undefined) break
            }
            return seen
          })
        const everything = (yield* store.listRooms(ann, undefined, 100)).rooms.map((r) => r.id)
        expect(new Set(everything)).toEqual(new Set(made))
        const [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10] = made
        expect(everything).toEqual([r9, r5, r0, r2, r10, r8, r7, r6, r4, ...[r1, r3].sort()])
        for (const limit of [1, 2, 3, 4]) expect(yield* walk(limit)).toEqual(everything)
        const malformed = yield* Effect.exit(store.listRooms(ann, "not a cursor", 2))
        expect(Exit.isFailure(malformed)).toBe(true)
      }))

    it.scoped("devices - registering again updates the platform; unregistering an unknown token answers false", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        yield* store.registerDevice(ann, "tok-b", "fcm")
        yield* TestClock.adjust("1 second")
        yield* store.registerDevice(ann, "tok-a", "apns")
        yield* store.registerDevice(ann, "tok-b", "webpush")
        yield* store.registerDevice(bob, "tok-a", "fcm")
        expect(yield* store.listDevices(ann)).toEqual([
          { user: ann, token: "tok-b", platform: "webpush", createdAt: "1970-01-01T00:00:00.000Z" },
          { user: ann, token: "tok-a", platform: "apns", createdAt: "1970-01-01T00:00:01.000Z" }
        ])
        expect(yield* store.unregisterDevice(ann, "tok-b")).toBe(true)
        expect(yield* store.unregisterDevice(ann, "tok-b")).toBe(false)
        expect(yield* store.unregisterDevice(ann, "nope")).toBe(false)
        expect((yield* store.listDevices(ann)).map((d) => d.token)).toEqual(["tok-a"])
        expect((yield* store.listDevices(bob)).map((d) => d.token)).toEqual(["tok-a"])
      }))

    it.scoped("push audience - one call answers each room's current members and their devices; a missing room has no entry", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat, dan, eve] = users("ann", "bob", "cat", "dan", "eve")
        const team = yield* group(store, ann, [bob, cat, eve])
        const pair = yield* group(store, dan, [ann])
        yield* TestClock.adjust("1 second")
        // eve leaves: her device must not count for the team any more.
        yield* commit(store, team.id, [{ _tag: "RemoveMember", actor: eve, user: eve }])
        yield* store.registerDevice(bob, "bob-phone", "apns")
        yield* store.registerDevice(ann, "ann-laptop", "webpush")
        yield* store.registerDevice(eve, "eve-phone", "fcm")
        yield* TestClock.adjust("1 second")
        yield* store.registerDevice(bob, "bob-old", "fcm")
        yield* store.registerDevice(dan, "dan-phone", "fcm")
        const at = (s: number) => new Date(s * 1000).toISOString()
        const missing = uuid()
        const audience = yield* store.pushAudience([team.id, missing, pair.id])
        expect([...audience.keys()].sort()).toEqual([team.id, pair.id].sort())
        expect(audience.get(team.id)).toEqual({
          members: [ann, bob, cat],
          devices: [
            { user: ann, token: "ann-laptop", platform: "webpush", createdAt: at(1) },
            { user: bob, token: "bob-phone", platform: "apns", createdAt: at(1) },
            { user: bob, token: "bob-old", platform: "fcm", createdAt: at(2) }
          ]
        })
        expect(audience.get(pair.id)).toEqual({
          members: [ann, dan],
          devices: [
            { user: ann, token: "ann-laptop", platform: "webpush", createdAt: at(1) },
            { user: dan, token: "dan-phone", platform: "fcm", createdAt: at(2) }
          ]
        })
        expect((yield* store.pushAudience([])).size).toBe(0)
        expect((yield* store.pushAudience([missing])).size).toBe(0)
      }))

    it.scoped("push audience - a room whose members have no device lists its members and no device", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob] = users("ann", "bob")
        const quiet = yield* group(store, ann, [bob])
        const audience = yield* store.pushAudience([quiet.id, quiet.id])
        expect([...audience]).toEqual([[quiet.id, { members: [ann, bob], devices: [] }]])
      }))

    it.scoped("room keys - the first key of a room wins, later adds keep it; rewrap replaces the wrapping only", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const room = uuid()
        const other = uuid()
        const key = { room, keyId: "k1", masterKeyId: "m1", wrapped: "w1", createdAt: "2024-05-01T10:00:00.000Z" }
        expect(yield* store.roomKeys(room)).toEqual([])
        expect(yield* store.addRoomKey(key)).toEqual([key])
        expect(yield* store.addRoomKey({ ...key, keyId: "k2", wrapped: "w2" })).toEqual([key])
        // Concurrent first adds for one room: exactly one key survives.
        const racers = yield* Effect.forEach(
          ["a", "b", "c", "d"],
          (id) => store.addRoomKey({ ...key, room: other, keyId: id }),
          { concurrency: "unbounded" }
        )
        const kept = yield* store.roomKeys(other)
        expect(kept.length).toBe(1)
        for (const r of racers) expect(r).toEqual(kept)
        yield* store.rewrapRoomKey({ ...key, masterKeyId: "m2", wrapped: "w1'" })
        expect(yield* store.roomKeys(room)).toEqual([{ ...key, masterKeyId: "m2", wrapped: "w1'" }])
        const all = (yield* store.allRoomKeys).filter((k) => k.room === room || k.room === other)
        expect(all.map((k) => k.room).sort()).toEqual([room, other].sort())
      }))

    // ---- push queue (storage/PushQueue.ts). The store may be shared with other tests, so
    // each test looks only at its own room's intents.
    const mine = (intents: ReadonlyArray<PushIntent>, room: RoomId) => intents.filter((i) => i.room === room)
    const claimAll = (store: ChatStore, now: number, settleMs = 0, leaseMs = 30_000) =>
      store.push.claim({ now, rooms: 10_000, leaseMs, settleMs })
    /** A room of ann and bob where bob has a device: every store queues its intents. */
    const pushRoom = (store: ChatStore) =>
      Effect.gen(function* () {
        const [ann, bob] = users("ann", "bob")
        yield* store.registerDevice(bob, `tok-${bob}`, "fcm")
        const room = yield* group(store, ann, [bob])
        return { ann, bob, room }
      })

    it.scoped("push - a batch that creates messages queues one intent with its seq range; edits, reactions and duplicates queue none", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const { ann, bob, room } = yield* pushRoom(store)
        yield* commit(store, room.id, [send(ann, "one", "p1"), send(bob, "two")])
        yield* commit(store, room.id, [edit(ann, 1, "one!"), react(bob, 1, "👍"), send(ann, "one", "p1")])
        const now = yield* Clock.currentTimeMillis
        const claimed = mine(yield* claimAll(store, now), room.id)
        expect(claimed.map(({ fromSeq, toSeq, attempts }) => ({ fromSeq, toSeq, attempts }))).toEqual([
          { fromSeq: 1, toSeq: 2, attempts: 1 }
        ])
        expect(claimed[0]!.createdAt).toBe(new Date(now).toISOString())
        // Edits and reactions took seqs 3 and 4.
        const [three] = (yield* commit(store, room.id, [send(bob, "three")])).map(ackSeq)
        expect(three).toBe(5)
        expect(mine(yield* claimAll(store, now), room.id).map((i) => [i.fromSeq, i.toSeq])).toEqual([[5, 5]])
      }))

    it.scoped("push - a claim leases its intents until they are acked; an expired lease or retryAt makes them claimable again", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const { ann, room } = yield* pushRoom(store)
        yield* commit(store, room.id, [send(ann, "a")])
        yield* commit(store, room.id, [send(ann, "b")])
        const t0 = yield* Clock.currentTimeMillis
        expect(mine(yield* claimAll(store, t0, 0, 1_000), room.id).map((i) => i.fromSeq)).toEqual([1, 2])
        // Leased: another worker's claim within the lease gets nothing of this room.
        expect(mine(yield* claimAll(store, t0 + 999), room.id)).toEqual([])
        // The worker died: after the lease both come back, counted as a second attempt.
        const again = mine(yield* claimAll(store, t0 + 1_000, 0, 1_000), room.id)
        expect(again.map((i) => [i.fromSeq, i.attempts])).toEqual([[1, 2], [2, 2]])
        yield* store.push.ack([{ room: room.id, fromSeq: 1 }])
        yield* store.push.retryAt([{ room: room.id, fromSeq: 2 }], t0 + 5_000)
        expect(mine(yield* claimAll(store, t0 + 4_999), room.id)).toEqual([])
        const retried = mine(yield* claimAll(store, t0 + 5_000), room.id)
        expect(retried.map((i) => [i.fromSeq, i.attempts])).toEqual([[2, 3]])
        yield* store.push.ack(retried)
        expect(mine(yield* claimAll(store, t0 + 1_000_000), room.id)).toEqual([])
      }))

    it.scoped("push - a room is claimed once its oldest intent has settled, then with every intent it has", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const { ann, room } = yield* pushRoom(store)
        const t0 = yield* Clock.currentTimeMillis
        yield* commit(store, room.id, [send(ann, "1")])
        yield* TestClock.adjust("400 millis")
        yield* commit(store, room.id, [send(ann, "2")])
        yield* TestClock.adjust("400 millis")
        yield* commit(store, room.id, [send(ann, "3")])
        expect(mine(yield* claimAll(store, t0 + 999, 1_000), room.id)).toEqual([])
        const burst = mine(yield* claimAll(store, t0 + 1_000, 1_000), room.id)
        expect(burst.map((i) => i.fromSeq)).toEqual([1, 2, 3])
        const stats = yield* store.push.stats
        expect(stats.depth).toBeGreaterThanOrEqual(3)
        expect(stats.oldestAt! <= new Date(t0).toISOString()).toBe(true)
        yield* store.push.ack(burst)
      }))

    it.scoped("push - an intent only where a member has a device at commit time (ScyllaDB: every batch)", () =>
      Effect.gen(function* () {
        const { store, intentsWithoutDevices } = yield* factory
        const [ann, bob, cat] = users("ann", "bob", "cat")
        const room = yield* group(store, ann, [bob])
        const fast = yield* commit(store, room.id, [send(ann, "nobody has a device")])
        // The other path (a membership change in the batch): cat joins with a device of her own.
        yield* commit(store, room.id, [send(bob, "still nobody")])
        yield* store.registerDevice(cat, `tok-${cat}`, "apns")
        yield* commit(store, room.id, [{ _tag: "AddMembers", actor: ann, users: [cat] }, send(ann, "cat can be told")])
        const now = yield* Clock.currentTimeMillis
        const claimed = mine(yield* claimAll(store, now), room.id).map((i) => [i.fromSeq, i.toSeq])
        expect(fast.map(ackSeq)).toEqual([1])
        // seq 3 is cat's join, 4 the message after it.
        expect(claimed).toEqual(intentsWithoutDevices === true ? [[1, 1], [2, 2], [4, 4]] : [[4, 4]])
        // A device gone again: no intent for the next message (ScyllaDB: one).
        expect(yield* store.unregisterDevice(cat, `tok-${cat}`)).toBe(true)
        yield* commit(store, room.id, [send(bob, "nobody again")])
        const after = mine(yield* claimAll(store, now), room.id).map((i) => i.fromSeq)
        expect(after).toEqual(intentsWithoutDevices === true ? [5] : [])
      }))

    it.scoped("push - the notified seq per user and room only moves forward", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        const [ann, bob, cat] = users("ann", "bob", "cat")
        const room = yield* group(store, ann, [bob, cat])
        expect((yield* store.push.sentUpTo(room.id, [bob, cat])).size).toBe(0)
        yield* store.push.markSent(room.id, bob, 5)
        yield* store.push.markSent(room.id, bob, 3)
        yield* store.push.markSent(room.id, cat, 2)
        yield* store.push.markSent(room.id, cat, 7)
        expect(new Map(yield* store.push.sentUpTo(room.id, [bob, cat, ann]))).toEqual(
          new Map([
            [bob, 5],
            [cat, 7]
          ])
        )
      }))

    it.scoped("ping - answers when the store is up", () =>
      Effect.gen(function* () {
        const { store } = yield* factory
        yield* store.ping
      }))
  })
