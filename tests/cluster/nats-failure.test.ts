import { afterAll, describe, expect, it } from "vitest"
import { startNatsCluster, type NatsCluster } from "../support/nats.ts"
import { Signal, waitFor } from "../support/wait.ts"
import { connect } from "../support/wsClient.ts"
import { awaitBalanced, createGroup, startCluster, steadySender, storedMessages, type TestCluster } from "./support.ts"

describe("cluster - NATS failure", () => {
  let nats: NatsCluster | undefined
  let cluster: TestCluster | undefined
  afterAll(async () => {
    await cluster?.close()
    await nats?.stop()
  })

  it("cluster - one NATS server of three killed: nodes reconnect and nothing acked is lost", async () => {
    nats = await startNatsCluster(3)
    cluster = await startCluster(nats.urls.join(","), ["n1", "n2", "n3"], { CHAT_NATS_REPLICAS: "3" })
    const c = cluster
    await awaitBalanced(c.nodes, 3)
    const alice = `alice-${process.pid}`
    const token = await c.token(alice)
    const rooms = await Promise.all([0, 1, 2].map((i) => createGroup(c.nodes[i], token, [])))
    const watcher = await connect(c.nodes[2].wsUrl, token)
    for (const room of rooms) await watcher.request({ type: "subscribe", room })
    const progress = new Signal()
    const senders = rooms.map((room, i) =>
      steadySender({ nodes: () => c.nodes, token, room, prefix: `s${i}`, count: 40, deadlineMs: 120_000, progress })
    )
    await waitFor("20 acks", () => senders.reduce((n, s) => n + s.acks.length, 0) >= 20, { on: progress, timeoutMs: 120_000 })
    await nats.nodes[0].kill()
    await Promise.all(senders.map((s) => s.done))
    for (const [i, room] of rooms.entries()) {
      const { messages, eventSeqs } = await storedMessages(c.dbUrl, room)
      expect(eventSeqs).toEqual(Array.from({ length: eventSeqs.length }, (_, k) => k + 1))
      for (const a of senders[i].acks) expect(messages.filter((m) => m.client_msg_id === a.clientMsgId).map((m) => m.seq)).toEqual([a.seq])
      // The watcher saw every event, filling any gap from storage.
      const events = await watcher.events(room, eventSeqs.length, 60_000)
      expect(events.map((e) => e.seq)).toEqual(eventSeqs)
    }
    // Every node is still ready: it reconnected to a surviving server.
    for (const n of c.nodes) expect((await fetch(`${n.url}/readyz`)).status).toBe(200)
    watcher.close()
  }, 240_000)
})
