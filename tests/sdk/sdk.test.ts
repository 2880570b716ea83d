/**
 * The client SDK (clients/js) against a real node started as a child process
 * (`tsx src/main.node.ts`), talking through `ws` as a Node 20 application would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ChatError, type ChatClient } from "../../clients/js/src/index.ts"
import { startChild, token, type TestNode } from "../support/node.ts"
import { startChaosProxy } from "../support/chaosProxy.ts"
import { checkExactlyOnceInOrder, next, record, sdkClient } from "./support.ts"

let uniq = 0
const user = (name: string) => `${name}-${process.pid}-${++uniq}`

describe("sdk - against a child-process node", () => {
  let node: TestNode
  const clients: ChatClient[] = []
  const client = async (name: string, extra: Record<string, unknown> = {}) => {
    const c = sdkClient(node.url, { token: await token(name), ...extra })
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    node = await startChild({ CHAT_SEND_RATE: "100000", CHAT_SEND_BURST: "100000" })
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await node?.close()
  })

  it("sdk - rooms, send with reply, edit, delete, react, read, typing, presence and history", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const a = await client(alice)
    const b = await client(bob)
    const group = await a.createGroup("team", [bob])
    expect(group.members.map((m) => m.user).sort()).toEqual([alice, bob].sort())
    const direct = await a.createDirect(bob)
    expect(direct.kind).toBe("direct")

    const ra = a.room(group.id)
    expect(await ra.ready).toBe(0)
    // bob subscribes: alice sees him come online.
    const presenceOfBob = next(ra, "presence", (p) => p.user === bob)
    const rb = b.room(group.id)
    await rb.ready
    const seenA = record(ra)
    const seenB = record(rb)
    expect(await presenceOfBob).toEqual({ user: bob, online: true })
    expect((await ra.online()).sort()).toEqual([alice, bob].sort())

    const first = await ra.send("hello bob")
    expect(first.seq).toBe(1)
    const reply = await rb.send("hi alice", { replyTo: first.seq })
    await seenA.until((e) => e.length >= 2)
    const replyEvent = seenA.events[1]
    expect(replyEvent.kind).toBe("message.created")
    if (replyEvent.kind === "message.created") expect(replyEvent.data.replyTo).toBe(1)

    const edited = await ra.edit(first.seq, "hello bob!")
    expect(edited.messageId).toBe(first.messageId)
    await rb.react(first.seq, "👍")
    await rb.delete(reply.seq)
    const kinds = (await seenB.until((e) => e.length >= 5)).map((e) => e.kind)
    expect(kinds).toEqual(["message.created", "message.created", "message.edited", "reaction.added", "message.deleted"])

    // read: alice's position reaches bob as a `read` event; the room list shows unread counts.
    const bobRead = next(rb, "read", (r) => r.user === alice)
    expect(await ra.read()).toBe(5)
    expect(await bobRead).toEqual({ user: alice, seq: 5 })
    const listA = await a.listRooms()
    expect(listA.find((r) => r.id === group.id)).toMatchObject({ unread: 0, lastMessage: { body: "hello bob!" } })
    const listB = await b.listRooms()
    expect(listB.find((r) => r.id === group.id)?.unread).toBe(1)
    expect(listB.map((r) => r.id)).toContain(direct.id)

    // typing is throttled: three calls in a row reach bob as one frame.
    const typings: string[] = []
    rb.on("typing", (t) => typings.push(t.user))
    ra.typing()
    ra.typing()
    ra.typing()
    await next(rb, "typing")
    await rb.send("flush")
    await seenB.until((e) => e.length >= 6)
    expect(typings).toEqual([alice])

    // history pages newest first, with current state (edit, deletion, reactions).
    for (let i = 0; i < 5; i++) await ra.send(`bulk ${i}`)
    const pages: number[][] = []
    for await (const page of ra.history({ pageSize: 4 })) pages.push(page.map((m) => m.seq))
    expect(pages).toEqual([[11, 10, 9, 8], [7, 6, 2, 1]])
    const [older] = await ra.history({ before: 3, pageSize: 10 }).next().then((r) => [r.value])
    expect(older![1]).toMatchObject({ seq: 1, body: "hello bob!", reactions: { "👍": [bob] } })
    expect(older![0]).toMatchObject({ seq: 2, deleted: true, body: "" })

    // errors carry the protocol's code.
    const err = await ra.edit(reply.seq, "not mine").catch((e) => e)
    expect(err).toBeInstanceOf(ChatError)
    expect(err.code).toBe("conflict")
  })

  it("sdk - the async iterator yields events in order and ends on abort", async () => {
    const alice = user("alice")
    const a = await client(alice)
    const room = await a.createGroup("iter")
    const r = a.room(room.id)
    await r.ready
    const abort = new AbortController()
    const iterator = r.events({ signal: abort.signal })
    for (let i = 1; i <= 3; i++) await r.send(`m${i}`)
    const seen: number[] = []
    for await (const e of iterator) {
      seen.push(e.seq)
      if (seen.length === 3) abort.abort()
    }
    expect(seen).toEqual([1, 2, 3])
  })

  it("sdk - an aborted send that is still in the outbox never goes out", async () => {
    const alice = user("alice")
    const proxy = await startChaosProxy({ host: "127.0.0.1", port: Number(new URL(node.url).port) })
    const a = sdkClient(proxy.url, { token: await token(alice) })
    clients.push(a)
    const room = await a.createGroup("abort")
    const r = a.room(room.id)
    await r.ready
    await proxy.close() // the node is unreachable from here on: the send waits in the outbox
    await next(a, "state", (s) => s.state === "reconnecting")
    const abort = new AbortController()
    const sending = r.send("never", { signal: abort.signal })
    abort.abort()
    await expect(sending).rejects.toMatchObject({ code: "aborted" })
    const direct = sdkClient(node.url, { token: await token(alice) })
    clients.push(direct)
    const page = await direct.room(room.id).history().next()
    expect(page.done).toBe(true)
  })

  it("sdk - an expired token is replaced through getToken and the client connects", async () => {
    const alice = user("alice")
    const issued: string[] = []
    const c = sdkClient(node.url, {
      getToken: async () => {
        // The first token is already expired: the upgrade is refused with 401.
        const t = await token(alice, { expiresIn: issued.length === 0 ? -60 : "1h" })
        issued.push(t)
        return t
      }
    })
    clients.push(c)
    await next(c, "state", (s) => s.state === "open", 20_000)
    expect(issued).toHaveLength(2)
    // REST uses the renewed token too.
    const room = await c.createGroup("renewed")
    expect(room.members[0].user).toBe(alice)
  })

  it("sdk - 1,000 messages between two clients while every connection is cut every 300 ms: each seen once, in order, each send acked once", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const proxy = await startChaosProxy({ host: "127.0.0.1", port: Number(new URL(node.url).port) })
    try {
      const setup = sdkClient(node.url, { token: await token(alice) })
      clients.push(setup)
      const room = await setup.createGroup("chaos", [bob])
      const a = sdkClient(proxy.url, { token: await token(alice), pingIntervalMs: 0 })
      const b = sdkClient(proxy.url, { token: await token(bob), pingIntervalMs: 0 })
      clients.push(a, b)
      const ra = a.room(room.id)
      const rb = b.room(room.id)
      await Promise.all([ra.ready, rb.ready])
      const seenA = record(ra)
      const seenB = record(rb)
      const stop = proxy.cutEvery(300)
      const bodies = new Set<string>()
      const acks = new Map<string, number>()
      const sendAll = async (r: typeof ra, who: string) => {
        const sends: Promise<void>[] = []
        for (let i = 0; i < 500; i++) {
          const body = `${who} ${i}`
          bodies.add(body)
          sends.push(r.send(body).then((ack) => void acks.set(body, (acks.get(body) ?? 0) + ack.seq * 0 + 1)))
          // Paced so the sends span about 3 s (20 pauses of 150 ms) on any machine: the cuts,
          // every 300 ms, land while sends are in flight, and a fast machine cannot finish
          // the exchange before the proxy has cut it several times.
          if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 150))
        }
        await Promise.all(sends)
      }
      await Promise.all([sendAll(ra, "alice"), sendAll(rb, "bob")])
      await Promise.all([
        seenA.until((e) => e.length >= 1000, 60_000, "alice's 1000 events"),
        seenB.until((e) => e.length >= 1000, 60_000, "bob's 1000 events")
      ])
      stop()
      expect(proxy.cuts()).toBeGreaterThan(5)
      expect([...acks.values()].every((n) => n === 1)).toBe(true)
      expect(acks.size).toBe(1000)
      for (const seen of [seenA, seenB]) {
        expect(checkExactlyOnceInOrder(seen.events, 1, bodies)).toEqual({ count: 1000, outOfOrder: 0, duplicates: 0, missing: 0 })
      }
      // The server stored each message once.
      const info = await setup.getRoom(room.id)
      expect(info.lastSeq).toBe(1000)
    } finally {
      await proxy.close()
    }
  }, 120_000)
})

describe("sdk - rate limits", () => {
  let node: TestNode
  beforeAll(async () => {
    node = await startChild({ CHAT_SEND_RATE: "5", CHAT_SEND_BURST: "2" })
  })
  afterAll(async () => node?.close())

  it("sdk - rate_limited answers are waited out (retryAfterMs) and every send is acked once", async () => {
    const alice = user("alice")
    const a = sdkClient(node.url, { token: await token(alice) })
    try {
      const room = await a.createGroup("limited")
      const r = a.room(room.id)
      await r.ready
      const seen = record(r)
      const acks = await Promise.all(Array.from({ length: 8 }, (_, i) => r.send(`m${i}`)))
      expect(new Set(acks.map((x) => x.seq)).size).toBe(8)
      await seen.until((e) => e.length >= 8)
      expect(seen.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      // The REST side reports the limit as a ChatError with its wait.
      const err = await Promise.all(Array.from({ length: 4 }, () => a.rename(room.id, "x"))).catch((e) => e)
      expect(err).toBeInstanceOf(ChatError)
      expect(err.code).toBe("rate_limited")
      expect(err.retryAfterMs).toBeGreaterThan(0)
    } finally {
      a.close()
    }
  })
})
