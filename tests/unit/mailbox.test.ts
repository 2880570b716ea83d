/** The room actor's mailbox (actors/Mailbox.ts) and the actor's answers from its recent sends. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Fiber } from "effect"
import { Mailbox } from "../../actors/Mailbox.ts"
import { RecentSends } from "../../actors/RecentSends.ts"
import { RECENT_KEYS } from "../../actors/RoomActor.ts"
import * as Registry from "../../actors/RoomRegistry.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import { uuidv7 } from "../../src/util/uuid.ts"

describe("mailbox", () => {
  it("mailbox - keeps order, takes at most the batch size, and refuses offers beyond its capacity", () => {
    const m = new Mailbox<number>(3)
    expect([m.offer(1), m.offer(2), m.offer(3), m.offer(4)]).toEqual([true, true, true, false])
    expect(m.takeUpTo(2)).toEqual([1, 2])
    expect(m.offer(5)).toBe(true)
    expect(m.size).toBe(2)
    expect(m.takeUpTo(10)).toEqual([3, 5])
    expect(m.takeUpTo(10)).toEqual([])
    expect(m.size).toBe(0)
  })

  it("mailbox - agrees with a plain queue over any mix of offers and takes (its ring wraps, grows and shrinks)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 90 }).map((n) => ({ offer: n })), fc.integer({ min: 0, max: 100 }).map((n) => ({ take: n })))),
        fc.integer({ min: 1, max: 150 }),
        (steps, capacity) => {
          const m = new Mailbox<number>(capacity)
          const model: Array<number> = []
          let next = 0
          for (const step of steps) {
            if ("offer" in step) {
              for (let i = 0; i < step.offer; i++) {
                const fits = model.length < capacity
                expect(m.offer(next)).toBe(fits)
                if (fits) model.push(next)
                next++
              }
            } else expect(m.takeUpTo(step.take)).toEqual(model.splice(0, step.take))
            expect(m.size).toBe(model.length)
          }
          expect(m.takeAll()).toEqual(model)
        }
      )
    )
  })

  it("mailbox - stays FIFO over many offers and takes", () => {
    const m = new Mailbox<number>(5_000)
    const seen: Array<number> = []
    let next = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 97; i++) expect(m.offer(next++)).toBe(true)
      seen.push(...m.takeUpTo(61))
    }
    seen.push(...m.takeAll())
    expect(seen).toEqual(Array.from({ length: next }, (_, i) => i))
  })

  it.effect("mailbox - ready waits for the first offer, and answers false once shut and empty", () =>
    Effect.gen(function* () {
      const m = new Mailbox<string>(4)
      const waiting = yield* Effect.fork(m.ready)
      yield* Effect.yieldNow()
      expect(waiting.unsafePoll()).toBeNull()
      m.offer("a")
      expect(yield* Fiber.join(waiting)).toBe(true)
      expect(yield* m.ready).toBe(true)
      m.shutdown()
      expect(m.offer("b")).toBe(false)
      // What was queued before the shutdown can still be taken.
      expect(yield* m.ready).toBe(true)
      expect(m.takeAll()).toEqual(["a"])
      expect(yield* m.ready).toBe(false)
      const m2 = new Mailbox<string>(1)
      const parked = yield* Effect.fork(m2.ready)
      yield* Effect.yieldNow()
      m2.shutdown()
      expect(yield* Fiber.join(parked)).toBe(false)
    })
  )
})

describe("recent sends", () => {
  const ack = (seq: number) => ({ room: "r" as RoomId, seq, messageId: `m${seq}`, ts: "t" })

  it("keys by sender and clientMsgId as sent, and evicts the oldest pair once full", () => {
    const recent = new RecentSends(3)
    recent.remember("alice", "k", ack(1))
    recent.remember("bob", "k", ack(2))
    // A joined-string key would confuse these two; pairs do not.
    recent.remember("a", "b\u0000c", ack(3))
    expect([recent.get("alice", "k"), recent.get("bob", "k"), recent.get("a", "b\u0000c"), recent.get("a\u0000b", "c")]).toEqual([
      ack(1),
      ack(2),
      ack(3),
      undefined
    ])
    recent.remember("carol", "x", ack(4))
    expect(recent.get("alice", "k")).toBeUndefined()
    expect(recent.get("bob", "k")).toEqual(ack(2))
    // Remembered twice (slots: carol, carol, a): the older slot's eviction drops it early.
    recent.remember("carol", "x", ack(4))
    recent.remember("dave", "y", ack(5))
    recent.remember("erin", "z", ack(6))
    expect([recent.get("bob", "k"), recent.get("carol", "x"), recent.get("dave", "y"), recent.get("erin", "z")]).toEqual([
      undefined,
      undefined,
      ack(5),
      ack(6)
    ])
  })
})

describe("room actor - recent sends", () => {
  const alice = "alice" as UserId
  const send = (clientMsgId: string): WriteOp => ({ _tag: "Send", actor: alice, messageId: uuidv7(), clientMsgId, body: "hi" })
  /** A registry over a memory store that counts its commits (ops per commit), and one room of alice's. */
  const oneRoom = Effect.gen(function* () {
    const base = makeMemoryStore()
    const committed: Array<number> = []
    const store: ChatStore = {
      ...base,
      commit: (room, epoch, members, ops, shard) => {
        committed.push(ops.length)
        return base.commit(room, epoch, members, ops, shard)
      }
    }
    const registry = yield* Registry.make(
      { store, maxBatch: 64, idleMs: 60_000, onCommitted: () => undefined },
      { mailboxCapacity: 16, commandTimeoutMs: 5_000, restartBaseMs: 10, restartMaxMs: 100, onRestart: () => Effect.void }
    )
    const room = (yield* base.createGroupRoom({ id: uuidv7() as RoomId, name: "r", owner: alice, members: [] })).id
    const write = (op: WriteOp) => Effect.flatten(registry.write(room, op))
    return { committed, registry, room, write }
  })

  it.scopedLive("a resend in a later batch is answered with the first ack from the actor, without a commit", () =>
    Effect.gen(function* () {
      const { committed, registry, room, write } = yield* oneRoom
      const first = yield* write(send("k1"))
      const again = yield* write(send("k1"))
      const other = yield* write(send("k2"))
      const ack = (r: OpResult) => (r._tag === "Rejected" ? undefined : r.ack)
      expect(first._tag).toBe("Committed")
      expect(again).toEqual({ _tag: "Duplicate", ack: ack(first) })
      expect(ack(other)?.seq).toBe(2)
      // Two commits: k1 and k2; the resend never reached the store.
      expect(committed).toEqual([1, 1])
      // Through submit (the plain-callback path) too.
      const viaSubmit = yield* Effect.async<OpResult>((resume) => {
        const refused = registry.submit!(room, send("k2"), (e, r) => resume(e !== undefined ? Effect.die(e) : Effect.succeed(r!)))
        if (refused !== undefined) resume(Effect.die(refused))
      })
      expect(viaSubmit).toEqual({ _tag: "Duplicate", ack: ack(other) })
      expect(committed).toEqual([1, 1])
    })
  )

  it.scopedLive("the actor remembers the latest RECENT_KEYS sends: an older resend goes to the store, which answers it alike", () =>
    Effect.gen(function* () {
      const { committed, write } = yield* oneRoom
      const acks: Array<OpResult> = []
      // Two rounds past the limit, so the ring of keys wraps.
      const total = 2 * RECENT_KEYS + 3
      for (let i = 0; i < total; i++) acks.push(yield* write(send(`k${i}`)))
      expect(committed.length).toBe(total)
      const ack = (r: OpResult) => (r._tag === "Rejected" ? undefined : r.ack)
      // The latest RECENT_KEYS: answered from memory.
      for (const i of [total - 1, total - RECENT_KEYS]) {
        expect(yield* write(send(`k${i}`))).toEqual({ _tag: "Duplicate", ack: ack(acks[i]!) })
      }
      expect(committed.length).toBe(total)
      // One older: the store answers it (the first ack), at the cost of a commit.
      const older = total - RECENT_KEYS - 1
      expect(yield* write(send(`k${older}`))).toEqual({ _tag: "Duplicate", ack: ack(acks[older]!) })
      expect(committed.length).toBe(total + 1)
    })
  )
})
