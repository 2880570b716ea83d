/**
 * Push intents (src/cluster/PushIntents.ts) with the in-process presence and a JetStream
 * stand-in that records what would be published: who gets an intent, that it carries no
 * body, and which batches need no presence lookup (and no fiber) at all.
 */
import { describe, expect, it } from "vitest"
import { Effect, Fiber } from "effect"
import type { JetStreamClient } from "nats"
import { makeLocal } from "../../src/chat/Presence.ts"
import type { Presence } from "../../src/chat/Presence.ts"
import { makePushIntents, userToken } from "../../src/cluster/PushIntents.ts"
import { defaults as subjects } from "../../src/cluster/subjects.ts"
import type { ChatEvent, Message, Role, RoomId, UserId } from "../../core/model.ts"

const room = "0190d6a4-0000-7000-8000-000000000001" as RoomId
const alice = "alice" as UserId
const bob = "bob" as UserId
const carol = "carol" as UserId
const members = new Map<UserId, Role>([
  [alice, "owner"],
  [bob, "member"],
  [carol, "member"]
])

const created = (seq: number, sender: UserId): ChatEvent => ({
  room,
  seq,
  ts: "2026-12-06T00:00:00.000Z",
  kind: "message.created",
  actor: sender,
  data: { id: `m${seq}`, room, seq, sender, body: `secret ${seq}`, ts: "2026-12-06T00:00:00.000Z" } as unknown as Message
})

/** Presence of this node (sockets opened here), with users online on other nodes added, and its lookups counted. */
const harness = (elsewhere: ReadonlyArray<UserId> = []) => {
  const here = makeLocal()
  const lookups: Array<ReadonlyArray<UserId>> = []
  const presence: Presence = {
    ...here,
    onlineUsers: (users) => {
      lookups.push(users)
      return Effect.map(here.onlineUsers(users), (online) => new Set([...online, ...users.filter((u) => elsewhere.includes(u))]))
    }
  }
  const published: Array<{ subject: string; payload: string }> = []
  const js = {
    publish: (subject: string, payload: string) => {
      published.push({ subject, payload })
      return Promise.resolve({ seq: published.length })
    }
  } as unknown as JetStreamClient
  const fibers: Array<Fiber.RuntimeFiber<void>> = []
  const intents = makePushIntents(js, presence, subjects, (effect) => fibers.push(Effect.runFork(effect)))
  const settle = () => Promise.all(fibers.map((f) => Effect.runPromise(Fiber.join(f))))
  return { here, lookups, published, fibers, intents, settle }
}

const intentsFor = (published: ReadonlyArray<{ subject: string; payload: string }>) =>
  published.map((p) => ({ subject: p.subject, ...(JSON.parse(p.payload) as { user: string; seq: number }) }))

describe("push intents", () => {
  it("every member but the sender without a socket anywhere gets one intent per message, with no body", async () => {
    const h = harness()
    h.intents(room, "group", [created(1, alice), created(2, alice)], members)
    await h.settle()
    const sent = intentsFor(h.published)
    expect(sent.map((i) => [i.user, i.seq])).toEqual([
      [bob, 1],
      [carol, 1],
      [bob, 2],
      [carol, 2]
    ])
    expect(sent[0].subject).toBe(subjects.push(userToken(bob)))
    for (const p of h.published) expect(p.payload).not.toContain("secret")
    // The sender is not even looked up.
    expect(h.lookups).toEqual([[bob, carol]])
  })

  it("a member with a socket on this node is online without a lookup; one online elsewhere is found by the lookup", async () => {
    const h = harness([carol])
    await Effect.runPromise(h.here.connected(bob))
    h.intents(room, "group", [created(1, alice)], members)
    await h.settle()
    expect(h.lookups).toEqual([[carol]])
    expect(h.published).toEqual([])
  })

  it("a batch whose only other member is connected here costs no lookup and no fiber", async () => {
    const h = harness()
    await Effect.runPromise(h.here.connected(bob))
    await Effect.runPromise(h.here.connected(carol))
    h.intents(room, "group", [created(1, alice)], members)
    expect(h.fibers).toEqual([])
    expect(h.lookups).toEqual([])
  })

  it("with two senders in a batch, each offline sender gets an intent for the other's message only", async () => {
    const h = harness()
    const pair = new Map<UserId, Role>([
      [alice, "member"],
      [bob, "member"]
    ])
    h.intents(room, "direct", [created(1, alice), created(2, bob)], pair)
    await h.settle()
    expect(intentsFor(h.published).map((i) => [i.user, i.seq])).toEqual([
      [bob, 1],
      [alice, 2]
    ])
  })

  it("a batch without a new message publishes nothing", async () => {
    const h = harness()
    h.intents(room, "group", [{ ...created(1, alice), kind: "message.edited" }], members)
    expect(h.fibers).toEqual([])
    expect(h.published).toEqual([])
  })
})
