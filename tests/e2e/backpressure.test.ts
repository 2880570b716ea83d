import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeApi, user, type Api } from "./chat.suite.ts"
import { startInProcess } from "../support/node.ts"

const droppedCount = async (api: Api) => {
  const text = await (await fetch(`${api.node.url}/metrics`)).text()
  const m = /^chat_ws_dropped_slow_consumers_total(?:\{[^}]*\})? (\d+)/m.exec(text)
  return m ? Number(m[1]) : 0
}

describe("e2e - limits and backpressure", () => {
  let api: Api
  beforeAll(async () => {
    api = makeApi(
      await startInProcess({
        wsMaxBufferedBytes: 256 * 1024,
        sendRate: 100_000,
        sendBurst: 100_000,
        replayCap: 5,
        maxSubscriptions: 2
      })
    )
  })
  afterAll(() => api?.node.close())

  it("a client that stops reading is cut off with 1008 while the others keep receiving everything", async () => {
    const [alice, fast, slow] = [user("alice"), user("fast"), user("slow")]
    const room = await api.group(alice, [fast, slow])
    const sender = await api.client(alice)
    const reader = await api.client(fast)
    const stalled = await api.client(slow)
    await reader.request({ type: "subscribe", room })
    await stalled.request({ type: "subscribe", room })
    // Stop reading: the server's writes to this socket pile up in kernel and ws buffers.
    ;(stalled.ws as any)._socket.pause()

    const before = await droppedCount(api)
    const body = "x".repeat(15 * 1024)
    let sent = 0
    // Bounded: kernel socket buffers on loopback hold a few MB; 2,000 x 15 KiB is ~30 MB.
    while (sent < 2000 && (await droppedCount(api)) === before) {
      const acks = await Promise.all(
        Array.from({ length: 50 }, () => sender.request({ type: "send", room, clientMsgId: `p${++sent}`, body }))
      )
      expect(acks.every((a) => a.type === "ack")).toBe(true)
    }
    expect(await droppedCount(api)).toBe(before + 1)

    // The reader that kept up has every message, in order.
    const events = await reader.events(room, sent, 60_000)
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1))
    // Once the stalled client reads again, it finds the close frame behind the data it missed.
    ;(stalled.ws as any)._socket.resume()
    const closed = await stalled.closed
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/slow consumer/)
    sender.close()
    reader.close()
  }, 120_000)

  it("subscribe with since further back than the replay cap answers truncated, then delivers only live events", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    const a = await api.client(alice)
    for (let i = 1; i <= 8; i++) await a.request({ type: "send", room, clientMsgId: `t${i}`, body: `t${i}` })
    const b = await api.client(alice)
    const sub = await b.request({ type: "subscribe", room, since: 1 })
    expect(sub).toMatchObject({ type: "subscribed", seq: 8, truncated: true })
    await a.request({ type: "send", room, clientMsgId: "t9", body: "t9" })
    expect((await b.events(room, 1)).map((e) => e.seq)).toEqual([9])
    // Within the cap, the missed events are replayed.
    const c = await api.client(alice)
    expect((await c.request({ type: "subscribe", room, since: 5 })).truncated).toBeUndefined()
    expect((await c.events(room, 4)).map((e) => e.seq)).toEqual([6, 7, 8, 9])
    a.close()
    b.close()
    c.close()
  })

  it("a socket may hold at most CHAT_MAX_SUBSCRIPTIONS subscriptions", async () => {
    const alice = user("alice")
    const rooms = [await api.group(alice, []), await api.group(alice, []), await api.group(alice, [])]
    const a = await api.client(alice)
    expect((await a.request({ type: "subscribe", room: rooms[0] })).type).toBe("subscribed")
    expect((await a.request({ type: "subscribe", room: rooms[1] })).type).toBe("subscribed")
    const third = await a.request({ type: "subscribe", room: rooms[2] })
    expect(third).toMatchObject({ type: "error", code: "bad_request" })
    expect(third.message).toMatch(/at most 2/)
    await a.request({ type: "unsubscribe", room: rooms[0] })
    expect((await a.request({ type: "subscribe", room: rooms[2] })).type).toBe("subscribed")
    a.close()
  })
})
