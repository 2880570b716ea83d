import { describe, expect, it } from "@effect/vitest"
import { codeOf } from "../../src/protocol/errorMap.ts"
import { Deferred, Effect, Fiber, TestClock } from "effect"
import * as Registry from "../../actors/RoomRegistry.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { ChatEvent, RoomId, UserId } from "../../core/model.ts"
import { uuidv7 } from "../../src/util/uuid.ts"

const alice = "alice" as UserId
const send = (clientMsgId: string, body = "hi"): WriteOp => ({
  _tag: "Send",
  actor: alice,
  messageId: uuidv7(),
  clientMsgId,
  body
})

const options = (overrides: Partial<Registry.RegistryOptions> = {}): Registry.RegistryOptions => ({
  mailboxCapacity: 64,
  commandTimeoutMs: 5_000,
  restartBaseMs: 10,
  restartMaxMs: 100,
  onRestart: () => Effect.void,
  ...overrides
})

const setup = (store: ChatStore, o: Partial<Registry.RegistryOptions> = {}, idleMs = 60_000) =>
  Effect.gen(function* () {
    const published: ChatEvent[] = []
    const registry = yield* Registry.make(
      {
        store,
        maxBatch: 256,
        idleMs,
        onCommitted: (_room, _kind, events) => void published.push(...events)
      },
      options(o)
    )
    return { registry, published }
  })

const newRoom = (store: ChatStore) =>
  Effect.map(
    store.createGroupRoom({ id: uuidv7() as RoomId, name: "r", owner: alice, members: [] }),
    (room) => room.id
  )

const write = (registry: Registry.RoomRegistry, room: RoomId, op: WriteOp) =>
  Effect.flatten(registry.write(room, op))

const ackSeq = (r: OpResult) => (r._tag === "Rejected" ? -1 : r.ack.seq)

/** A store whose first commit waits at a gate; `entered` completes when it gets there. */
const gatedStore = Effect.gen(function* () {
  const base = makeMemoryStore()
  const gate = yield* Deferred.make<void>()
  const entered = yield* Deferred.make<void>()
  const batches: number[] = []
  const store: ChatStore = {
    ...base,
    commit: (room, epoch, members, ops) =>
      Effect.zipRight(
        Effect.suspend(() => {
          batches.push(ops.length)
          return batches.length === 1 ? Effect.zipRight(Deferred.succeed(entered, undefined), Deferred.await(gate)) : Effect.void
        }),
        base.commit(room, epoch, members, ops)
      )
  }
  return { store, gate, entered, batches }
})

describe("room actors", () => {
  it.scopedLive("a fault in one room restarts its actor; other rooms keep committing; seq stays gapless", () =>
    Effect.gen(function* () {
      const base = makeMemoryStore()
      let failNext = true
      let faultyRoom: RoomId | undefined
      const store: ChatStore = {
        ...base,
        commit: (room, epoch, members, ops) =>
          room === faultyRoom && failNext
            ? Effect.suspend(() => {
                failNext = false
                return Effect.die(new Error("injected store fault"))
              })
            : base.commit(room, epoch, members, ops)
      }
      let restarts = 0
      const { registry } = yield* setup(store, { onRestart: () => Effect.sync(() => void restarts++) })
      const a = yield* newRoom(store)
      const b = yield* newRoom(store)
      faultyRoom = a

      const first = yield* Effect.either(write(registry, a, send("a1")))
      expect(first._tag).toBe("Left")
      if (first._tag === "Left") expect(first.left._tag).toBe("Unavailable")

      // Room B is unaffected, and A accepts the retry (same clientMsgId) after its restart.
      const bAcks = yield* Effect.forEach(["b1", "b2", "b3"], (id) => write(registry, b, send(id)))
      expect(bAcks.map(ackSeq)).toEqual([1, 2, 3])
      const retried = yield* write(registry, a, send("a1"))
      const next = yield* write(registry, a, send("a2"))
      expect([ackSeq(retried), ackSeq(next)]).toEqual([1, 2])
      expect(restarts).toBe(1)

      const events = yield* store.events(a, 0, 100, 100)
      expect(events.map((e) => e.seq)).toEqual([1, 2])
    })
  )

  it.scopedLive("a throw in the actor's own code after a commit answers its batch unavailable and restarts the room; the retry gets the first ack", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      let throwOnce = true
      let restarts = 0
      const registry = yield* Registry.make(
        {
          store,
          maxBatch: 256,
          idleMs: 60_000,
          onCommitted: () => {
            if (throwOnce) {
              throwOnce = false
              throw new Error("injected fan-out bug")
            }
            return undefined
          }
        },
        options({ onRestart: () => Effect.sync(() => void restarts++) })
      )
      const room = yield* newRoom(store)
      const first = yield* Effect.either(write(registry, room, send("x1")))
      expect(first._tag === "Left" && first.left._tag).toBe("Unavailable")
      // The commit itself landed: a retry with the same clientMsgId is answered with its ack.
      const retried = yield* write(registry, room, send("x1"))
      const next = yield* write(registry, room, send("x2"))
      expect([ackSeq(retried), ackSeq(next)]).toEqual([1, 2])
      expect(restarts).toBe(1)
      expect((yield* store.events(room, 0, 100, 100)).map((e) => e.seq)).toEqual([1, 2])
    })
  )

  it.scopedLive("commands queued while a commit is in flight are committed together in one batch", () =>
    Effect.gen(function* () {
      const { store, gate, entered, batches } = yield* gatedStore
      const { registry, published } = yield* setup(store)
      const room = yield* newRoom(store)
      const firstAck = yield* registry.write(room, send("m0"))
      // The actor holds m0 at the gate; everything enqueued now waits in the mailbox.
      yield* Deferred.await(entered)
      const pending = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => `m${i + 1}`), (id) =>
        registry.write(room, send(id))
      )
      yield* Deferred.succeed(gate, undefined)
      const acks = yield* Effect.forEach([firstAck, ...pending], (p) => p)
      expect(acks.map(ackSeq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1))
      expect(batches).toEqual([1, 10])
      expect(published.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1))
    })
  )

  it.scopedLive("a full mailbox fails fast with unavailable instead of queueing without bound", () =>
    Effect.gen(function* () {
      const { store, gate, entered } = yield* gatedStore
      const { registry } = yield* setup(store, { mailboxCapacity: 2 })
      const room = yield* newRoom(store)
      const held = yield* registry.write(room, send("held"))
      yield* Deferred.await(entered)
      const q1 = yield* registry.write(room, send("q1"))
      const q2 = yield* registry.write(room, send("q2"))
      const overflow = yield* Effect.either(registry.write(room, send("q3")))
      expect(overflow._tag).toBe("Left")
      // Its own tag inside the node; on the wire the code every client already knows.
      if (overflow._tag === "Left") expect(overflow.left._tag).toBe("MailboxFull")
      if (overflow._tag === "Left") expect(codeOf(overflow.left)).toBe("unavailable")
      yield* Deferred.succeed(gate, undefined)
      const acks = yield* Effect.all([held, q1, q2])
      expect(acks.map(ackSeq)).toEqual([1, 2, 3])
    })
  )

  it.scoped("a command in a commit that does not answer within commandTimeoutMs gets timeout (it still commits); one never taken gets unavailable and is never stored", () =>
    Effect.gen(function* () {
      const { store, gate, entered } = yield* gatedStore
      const { registry } = yield* setup(store, { commandTimeoutMs: 1_000 })
      const room = yield* newRoom(store)
      const held = yield* registry.write(room, send("slow"))
      yield* Deferred.await(entered)
      // Queued behind the commit in flight: not taken yet.
      const queued = yield* registry.write(room, send("queued"))
      const waiting = yield* Effect.fork(Effect.either(held))
      const waitingQueued = yield* Effect.fork(Effect.either(queued))
      yield* TestClock.adjust("999 millis")
      expect(yield* Fiber.poll(waiting)).toMatchObject({ _tag: "None" })
      yield* TestClock.adjust("500 millis")
      const outcome = yield* Fiber.join(waiting)
      expect(outcome._tag === "Left" && outcome.left._tag).toBe("Timeout")
      const outcomeQueued = yield* Fiber.join(waitingQueued)
      expect(outcomeQueued._tag === "Left" && outcomeQueued.left._tag).toBe("Unavailable")
      // The room goes on: the slow commit lands, the withdrawn one never does, and the next
      // command is answered after the slow one with the next seq.
      yield* Deferred.succeed(gate, undefined)
      expect(ackSeq(yield* write(registry, room, send("next")))).toBe(2)
      const history = yield* store.history(room, undefined, 10)
      expect(history.messages.map((m) => m.clientMsgId)).toEqual(["next", "slow"])
    })
  )

  it.scoped("an idle actor passivates and rehydrates its last seq and members on the next command", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const { registry } = yield* setup(store, {}, 1_000)
      const room = yield* newRoom(store)
      expect(ackSeq(yield* write(registry, room, send("x1")))).toBe(1)
      yield* write(registry, room, { _tag: "AddMembers", actor: alice, users: ["bob" as UserId] })
      expect(yield* registry.activeRooms).toBe(1)
      yield* TestClock.adjust("2 seconds")
      // Passivation happens on the actor's fiber: wait for it to observe the clock.
      while ((yield* registry.activeRooms) > 0) yield* Effect.yieldNow()
      const snapshot = yield* registry.snapshot(room)
      expect(snapshot.lastSeq).toBe(2)
      expect(snapshot.members.get("bob" as UserId)).toBe("member")
      expect(ackSeq(yield* write(registry, room, send("x2")))).toBe(3)
    })
  )

  it.scoped("commands to a room that does not exist are answered not_found", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const { registry } = yield* setup(store)
      const result = yield* Effect.either(registry.snapshot(uuidv7() as RoomId))
      expect(result._tag === "Left" && result.left._tag).toBe("NotFound")
      expect(yield* registry.activeRooms).toBe(0)
    })
  )

  it.scopedLive("drain answers queued commands unavailable and finishes the batch in flight", () =>
    Effect.gen(function* () {
      const { store, gate, entered } = yield* gatedStore
      const { registry } = yield* setup(store)
      const room = yield* newRoom(store)
      const inFlight = yield* registry.write(room, send("f1"))
      yield* Deferred.await(entered)
      const queued = yield* registry.write(room, send("f2"))
      const drain = yield* Effect.fork(registry.drain)
      const queuedResult = yield* Effect.either(queued)
      expect(queuedResult._tag === "Left" && queuedResult.left._tag).toBe("Unavailable")
      yield* Deferred.succeed(gate, undefined)
      expect(ackSeq(yield* inFlight)).toBe(1)
      yield* Fiber.join(drain)
      const after = yield* Effect.either(registry.write(room, send("f3")))
      expect(after._tag).toBe("Left")
      const events = yield* store.events(room, 0, 10, 10)
      expect(events.map((e) => e.seq)).toEqual([1])
    })
  )
})
