import { afterEach, describe, expect, it } from "vitest"
import { startNats, type RunningNats } from "../support/nats.ts"
import { Signal, waitFor } from "../support/wait.ts"
import { connect } from "../support/wsClient.ts"
import {
  awaitBalanced,
  LEASE_MS,
  roomsOwnedBy,
  startCluster,
  steadySender,
  storedMessages,
  type TestCluster
} from "./support.ts"

const gapless = (seqs: ReadonlyArray<number>) => seqs.every((s, i) => s === i + 1)

/** Asserts every acked message is stored exactly once and the room's seqs have no gap. */
const checkRoom = async (cluster: TestCluster, room: string, acked: ReadonlyArray<{ clientMsgId: string; seq: number }>) => {
  const { messages, eventSeqs } = await storedMessages(cluster.dbUrl, room)
  expect(gapless(eventSeqs)).toBe(true)
  const byId = new Map<string, number[]>()
  for (const m of messages) byId.set(m.client_msg_id, [...(byId.get(m.client_msg_id) ?? []), m.seq])
  for (const a of acked) expect(byId.get(a.clientMsgId)).toEqual([a.seq])
  expect([...byId.values()].every((seqs) => seqs.length === 1)).toBe(true)
}

describe("cluster - failover and fencing", () => {
  let nats: RunningNats | undefined
  let cluster: TestCluster | undefined
  afterEach(async () => {
    await cluster?.close()
    await nats?.stop()
  })

  it("cluster - kill -9 of a busy room's owner: every acked message stored once, gapless, resumed clients miss nothing", async () => {
    nats = await startNats()
    cluster = await startCluster(nats.url, ["n1", "n2", "n3"])
    const c = cluster
    await awaitBalanced(c.nodes, 3)
    const ids = c.nodes.map((n) => n.id)
    const alice = `alice-${process.pid}`
    const token = await c.token(alice)
    // Rooms owned by n1, the node that will be killed.
    const rooms = await roomsOwnedBy("n1", 2, c.nodes[1], token, ids)
    const victim = c.nodes.find((n) => n.id === "n1")!
    const survivors = () => c.nodes.filter((n) => n !== victim)
    // A watcher on a survivor, and one on the victim that will have to resume elsewhere.
    const watcher = await connect(survivors()[0].wsUrl, token)
    let resumer = await connect(victim.wsUrl, token)
    for (const room of rooms) {
      await watcher.request({ type: "subscribe", room })
      await resumer.request({ type: "subscribe", room })
    }
    const progress = new Signal()
    const senders = rooms.flatMap((room, r) =>
      c.nodes.map((_, i) =>
        steadySender({
          nodes: () => (victim.child.exitCode === null && victim.child.signalCode === null ? c.nodes : survivors()),
          token,
          room,
          prefix: `r${r}-s${i}`,
          count: 40,
          deadlineMs: 90_000,
          progress
        })
      )
    )
    // Let traffic flow, then kill the owner without warning.
    await waitFor("30 acks", () => senders.reduce((n, s) => n + s.acks.length, 0) >= 30, { on: progress, timeoutMs: 90_000 })
    const killedAt = Date.now()
    victim.child.kill("SIGKILL")
    await Promise.all(senders.map((s) => s.done))

    // How long commits stopped: the largest gap between consecutive acks across the kill.
    // (A reply already on its way when the owner died can arrive just after the kill, so
    // the stall is the largest gap between consecutive acks from the kill on.)
    const ackTimes = [killedAt, ...senders.flatMap((s) => s.acks.map((a) => a.at)).filter((t) => t >= killedAt)].sort((a, b) => a - b)
    const resumeMs = Math.max(...ackTimes.slice(1).map((t, i) => t - ackTimes[i]))
    console.log(`[failover] commits stalled ${resumeMs} ms around kill -9 of the owner (lease ${LEASE_MS} ms)`)
    expect(resumeMs).toBeLessThan(LEASE_MS + 10_000)

    for (const [r, room] of rooms.entries()) {
      await checkRoom(c, room, senders.filter((_, i) => Math.floor(i / c.nodes.length) === r).flatMap((s) => s.acks))
    }
    // The client of the killed node reconnects elsewhere and resumes with since.
    const last = new Map(rooms.map((room) => [room, Math.max(0, ...resumer.frames.filter((f) => f.type === "event" && f.room === room).map((f) => f.seq))]))
    resumer.close()
    resumer = await connect(survivors()[1].wsUrl, token)
    for (const room of rooms) {
      const total = (await storedMessages(c.dbUrl, room)).eventSeqs.length
      await resumer.request({ type: "subscribe", room, since: last.get(room)! })
      const events = await resumer.events(room, total - last.get(room)!, 30_000)
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: total - last.get(room)! }, (_, i) => last.get(room)! + i + 1))
      const watched = await watcher.events(room, total, 30_000)
      expect(watched.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    }
    watcher.close()
    resumer.close()
  }, 180_000)

  it("cluster - split brain: a paused owner resumes after losing its lease and commits nothing", async () => {
    nats = await startNats()
    cluster = await startCluster(nats.url, ["n1", "n2", "n3"])
    const c = cluster
    await awaitBalanced(c.nodes, 3)
    const ids = c.nodes.map((n) => n.id)
    const alice = `alice-${process.pid}`
    const token = await c.token(alice)
    const [room] = await roomsOwnedBy("n2", 1, c.nodes[0], token, ids)
    const stale = c.nodes.find((n) => n.id === "n2")!
    const others = c.nodes.filter((n) => n !== stale)
    // A client on the soon-stale owner, one elsewhere.
    const onStale = await connect(stale.wsUrl, token)
    const elsewhere = await connect(others[0].wsUrl, token)
    await onStale.request({ type: "subscribe", room })
    await elsewhere.request({ type: "subscribe", room })
    for (let i = 1; i <= 5; i++) expect((await onStale.request({ type: "send", room, clientMsgId: `before-${i}`, body: "x" })).seq).toBe(i)

    stale.child.kill("SIGSTOP")
    // The others take the shard over once the lease lapses; writes through them succeed.
    const acks: Array<{ clientMsgId: string; seq: number }> = []
    for (let i = 1; i <= 5; i++) {
      let reply: any
      do reply = await elsewhere.request({ type: "send", room, clientMsgId: `during-${i}`, body: "y" }, 30_000)
      while (reply.type === "error" && (reply.code === "unavailable" || reply.code === "timeout"))
      expect(reply.type).toBe("ack")
      acks.push({ clientMsgId: `during-${i}`, seq: reply.seq })
    }
    stale.child.kill("SIGCONT")
    // The stale node's own client keeps working: its writes are routed to the new owner.
    for (let i = 1; i <= 5; i++) {
      let reply: any
      do reply = await onStale.request({ type: "send", room, clientMsgId: `after-${i}`, body: "z" }, 30_000)
      while (reply.type === "error" && (reply.code === "unavailable" || reply.code === "timeout"))
      expect(reply.type).toBe("ack")
      acks.push({ clientMsgId: `after-${i}`, seq: reply.seq })
    }
    await checkRoom(c, room, acks)
    const { eventSeqs } = await storedMessages(c.dbUrl, room)
    expect(eventSeqs).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
    // Its subscribers were moved on: they have every event, in order.
    expect((await onStale.events(room, 15, 30_000)).map((e) => e.seq)).toEqual(eventSeqs)
    // The stale node logged that it lost the shard, and its store refused nothing it should have committed.
    expect(stale.output()).toMatch(/lost a shard lease/)
    expect(stale.output()).not.toMatch(/"Fenced"/)
    onStale.close()
    elsewhere.close()
  }, 180_000)
})
