import { describe, expect, it } from "vitest"
import { chatSuite, makeApi, user } from "./chat.suite.ts"
import { startChild, tempDir } from "../support/node.ts"

chatSuite("child process, PGlite", () => startChild())

describe("e2e (child process) - shutdown", () => {
  it("SIGTERM closes sockets with 1001, and what was acked is there after a restart", async () => {
    const dataDir = tempDir()
    const first = makeApi(await startChild({ CHAT_DATA_DIR: dataDir }))
    const alice = user("alice")
    const room = await first.group(alice, [])
    const a = await first.client(alice)
    await a.request({ type: "subscribe", room })
    const acks = []
    for (let i = 1; i <= 20; i++) acks.push(await a.request({ type: "send", room, clientMsgId: `k${i}`, body: `keep ${i}` }))
    expect(acks.every((f) => f.type === "ack")).toBe(true)
    const closed = a.closed
    await first.node.close()
    expect((await closed).code).toBe(1001)

    const second = makeApi(await startChild({ CHAT_DATA_DIR: dataDir }))
    try {
      const b = await second.client(alice)
      const history = await b.request({ type: "history", room, limit: 50 })
      expect(history.messages.map((m: any) => m.body)).toEqual(Array.from({ length: 20 }, (_, i) => `keep ${20 - i}`))
      // Sequencing continues where it stopped: no reuse of a seq after restart.
      expect((await b.request({ type: "send", room, clientMsgId: "after", body: "after restart" })).seq).toBe(21)
      b.close()
    } finally {
      await second.node.close()
    }
  }, 90_000)
})
