import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeApi, user, type Api } from "./chat.suite.ts"
import { startInProcess } from "../support/node.ts"

const droppedCount = async (api: Api) => {
  const text = await (await fetch(`${api.node.url}/metrics`)).text()
  const m = /^chat_ws_dropped_slow_consumers_total(?:\{[^}]*\})? (\d+)/m.exec(text)
  return m ? Number(m[1]) : 0
}

describe("e2e - backpressure", () => {
  let api: Api
  beforeAll(async () => {
    api = makeApi(
      await startInProcess({ wsMaxBufferedBytes: 256 * 1024, sendRate: 100_000, sendBurst: 100_000 })
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
})
