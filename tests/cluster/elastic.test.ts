import { afterAll, describe, expect, it } from "vitest"
import { startNats, type RunningNats } from "../support/nats.ts"
import { connect } from "../support/wsClient.ts"
import { awaitBalanced, createGroup, readyz, startCluster, steadySender, storedMessages, type TestCluster } from "./support.ts"

describe("cluster - elasticity", () => {
  let nats: RunningNats | undefined
  let cluster: TestCluster | undefined
  afterAll(async () => {
    await cluster?.close()
    await nats?.stop()
  })

  it("cluster - scale out to four nodes and in again under load: shards rebalance, no acked message lost or duplicated", async () => {
    nats = await startNats()
    cluster = await startCluster(nats.url, ["n1", "n2", "n3"])
    const c = cluster
    await awaitBalanced(c.nodes, 3)
    const alice = `alice-${process.pid}`
    const token = await c.token(alice)
    const rooms = await Promise.all(Array.from({ length: 6 }, (_, i) => createGroup(c.nodes[i % 3], token, [])))
    const watcher = await connect(c.nodes[0].wsUrl, token)
    for (const room of rooms) await watcher.request({ type: "subscribe", room })
    const alive = () => c.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null)
    const senders = rooms.map((room, i) =>
      steadySender({ nodes: alive, token, room, prefix: `s${i}`, count: 60, deadlineMs: 150_000 })
    )

    // Scale out: a fourth node joins; shards move to it while traffic flows.
    const n4 = await c.add("n4")
    const joinedAt = Date.now()
    const balanced4 = await awaitBalanced(c.nodes, 4)
    const rebalanceOutMs = Date.now() - joinedAt
    const n4State = balanced4.find((s) => s.cluster.node === "n4")
    expect(n4State.cluster.shardsHeld).toBeGreaterThan(0)
    const acquired = n4State.cluster.handovers.filter((h: any) => h.kind === "acquired")
    console.log(
      `[elastic] scale-out: n4 listening to all 4 nodes holding their shares: ${rebalanceOutMs} ms; n4 took ${acquired.length} shards, slowest acquisition ${Math.max(...acquired.map((h: any) => h.ms))} ms`
    )

    // Scale in: SIGTERM one of the original nodes; it hands its shards over, then exits.
    const leaving = c.nodes.find((n) => n.id === "n2")!
    const stopStarted = Date.now()
    const releasedBefore = await readyz(leaving)
    expect(releasedBefore.cluster.shardsHeld).toBeGreaterThan(0)
    await leaving.close()
    const stopMs = Date.now() - stopStarted
    await awaitBalanced(alive(), 3)
    console.log(`[elastic] scale-in: n2 drained and exited in ${stopMs} ms; SIGTERM to 3 nodes holding their shares: ${Date.now() - stopStarted} ms`)
    expect(n4.child.exitCode).toBeNull()

    await Promise.all(senders.map((s) => s.done))
    for (const [i, room] of rooms.entries()) {
      const { messages, eventSeqs } = await storedMessages(c.dbUrl, room)
      expect(eventSeqs).toEqual(Array.from({ length: eventSeqs.length }, (_, k) => k + 1))
      const ids = messages.map((m) => m.client_msg_id)
      expect(new Set(ids).size).toBe(ids.length)
      for (const a of senders[i].acks) expect(messages.find((m) => m.client_msg_id === a.clientMsgId)?.seq).toBe(a.seq)
      expect(senders[i].acks).toHaveLength(60)
    }
    watcher.close()
  }, 240_000)
})
