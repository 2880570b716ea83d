/**
 * Clustered mode against NATS failures, with real processes (three nodes, one NATS server
 * of the test's own):
 * - NATS killed under load and restarted on the same port: while it is down sends are
 *   answered fast (`unavailable` from the open NATS circuit, or acked while the owner's lease
 *   still lets it commit), the nodes recover by themselves once it is back, no node takes
 *   every shard meanwhile (each takes back about its own share), nothing acked is lost, no
 *   `unavailable` send is stored, and every room's seq is gapless.
 * - The owner of a room paused (SIGSTOP): a write forwarded to it gets no reply, and is
 *   answered `timeout` (its outcome is unknown), not `unavailable`; the retry with the same
 *   clientMsgId settles it once.
 */
import { afterAll, describe, expect, it } from "vitest"
import { startRestartableNats } from "../support/nats.ts"
import { waitFor } from "../support/wait.ts"
import { connect, type Frame, type TestClient } from "../support/wsClient.ts"
import { shardsOf } from "../../src/cluster/ShardMap.ts"
import { awaitBalanced, readyz, roomsOwnedBy, SHARDS, startCluster, storedMessages, type TestCluster } from "./support.ts"

const COMMAND_TIMEOUT_MS = 4_000

interface Sent {
  readonly room: string
  readonly id: string
  readonly at: number
  answeredAt?: number
  reply?: Frame
}

/** Sends to `rooms` in turn every `everyMs`, each without waiting for the one before. */
const pacedSender = (client: TestClient, rooms: ReadonlyArray<string>, prefix: string, everyMs: number) => {
  const sent: Array<Sent> = []
  const inflight: Array<Promise<void>> = []
  let n = 0
  const timer = setInterval(() => {
    const room = rooms[n % rooms.length]
    const s: Sent = { room, id: `${prefix}-${++n}`, at: Date.now() }
    sent.push(s)
    inflight.push(
      client.request({ type: "send", room, clientMsgId: s.id, body: s.id }, 30_000).then(
        (reply) => {
          s.answeredAt = Date.now()
          s.reply = reply
        },
        (e: unknown) => {
          s.answeredAt = Date.now()
          s.reply = { type: "lost", error: String(e) }
        }
      )
    )
  }, everyMs)
  return {
    sent,
    stop: async () => {
      clearInterval(timer)
      await Promise.all(inflight)
    }
  }
}

const code = (s: Sent) => (s.reply?.type === "error" ? (s.reply.code as string) : (s.reply?.type ?? "pending"))

/** Every acked send stored once at its seq, no `unavailable` one stored, seq gapless. */
const checkRooms = async (c: TestCluster, rooms: ReadonlyArray<string>, sent: ReadonlyArray<Sent>, settled: Map<string, number>) => {
  for (const room of rooms) {
    const { messages, eventSeqs } = await storedMessages(c.dbUrl, room)
    expect(eventSeqs).toEqual(Array.from({ length: eventSeqs.length }, (_, k) => k + 1))
    const byId = new Map<string, Array<number>>()
    for (const m of messages) byId.set(m.client_msg_id, [...(byId.get(m.client_msg_id) ?? []), m.seq])
    for (const s of sent.filter((x) => x.room === room)) {
      const seqs = byId.get(s.id) ?? []
      if (s.reply?.type === "ack") expect(seqs, s.id).toEqual([s.reply.seq])
      else if (code(s) === "unavailable") expect(seqs, `${s.id} answered unavailable but stored`).toEqual([])
      else expect(seqs, s.id).toEqual(settled.has(s.id) ? [settled.get(s.id)] : seqs.slice(0, 1))
    }
  }
}

/** Retries every `timeout` answer with its clientMsgId until acked; returns the seqs. */
const settle = async (client: TestClient, sent: ReadonlyArray<Sent>) => {
  const settled = new Map<string, number>()
  for (const s of sent.filter((x) => code(x) === "timeout")) {
    let again: Frame
    do again = await client.request({ type: "send", room: s.room, clientMsgId: s.id, body: s.id }, 30_000)
    while (again.type === "error" && (again.code === "unavailable" || again.code === "timeout"))
    expect(again.type, JSON.stringify(again)).toBe("ack")
    settled.set(s.id, again.seq)
  }
  return settled
}

describe("cluster - NATS outage", () => {
  let nats: Awaited<ReturnType<typeof startRestartableNats>> | undefined
  let cluster: TestCluster | undefined
  afterAll(async () => {
    for (const n of cluster?.nodes ?? []) n.child.kill("SIGCONT")
    await cluster?.close()
    await nats?.stop()
  })

  it("cluster - NATS killed under load and restarted: fast unavailable while down, recovery by itself, no node takes every shard, nothing acked lost", async () => {
    nats = await startRestartableNats()
    cluster = await startCluster(nats.url, ["n1", "n2", "n3"], {
      CHAT_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      CHAT_STORE_TIMEOUT_MS: "2000"
    })
    const c = cluster
    await awaitBalanced(c.nodes, 3)
    const ids = c.nodes.map((n) => n.id)
    const token = await c.token(`alice-${process.pid}`)
    // One room owned by the node the client is on, one by another node (forwarded over NATS).
    const [local] = await roomsOwnedBy("n1", 1, c.nodes[0], token, ids)
    const [remote] = await roomsOwnedBy("n2", 1, c.nodes[0], token, ids)
    const client = await connect(c.nodes[0].wsUrl, token)

    // Shards held by each node, sampled from /readyz while NATS goes away and comes back.
    const samples: Array<{ at: number; held: Array<number> }> = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const states = await Promise.all(c.nodes.map((n) => readyz(n).catch(() => undefined)))
        samples.push({ at: Date.now(), held: states.map((s) => s?.details?.cluster?.shardsHeld ?? s?.cluster?.shardsHeld ?? -1) })
        await new Promise((r) => setTimeout(r, 100))
      }
    })()

    const load = pacedSender(client, [local, remote], "n", 50)
    try {
      await waitFor("10 acks before the outage", () => load.sent.filter((s) => s.reply?.type === "ack").length >= 10, { timeoutMs: 30_000 })
      await nats.kill()
      const killedAt = Date.now()
      await waitFor("6 s of NATS outage", () => Date.now() - killedAt >= 6_000, { timeoutMs: 10_000 })
      await nats.restart()
      const restartedAt = Date.now()
      await waitFor(
        "acks from both rooms after NATS is back",
        () => [local, remote].every((r) => load.sent.some((s) => s.room === r && s.at >= restartedAt && s.reply?.type === "ack")),
        { timeoutMs: 30_000 }
      )
      const firstAcks = [local, remote].map(
        (r) => Math.min(...load.sent.filter((s) => s.room === r && s.at >= restartedAt && s.reply?.type === "ack").map((s) => s.answeredAt!)) - restartedAt
      )
      await awaitBalanced(c.nodes, 3, 60_000)
      const balancedAt = Date.now()
      await load.stop()
      sampling = false
      await sampler

      const during = load.sent.filter((s) => s.at >= killedAt && s.at < restartedAt)
      const later = during.filter((s) => s.at >= killedAt + 500)
      const codes: Record<string, number> = {}
      for (const s of during) codes[code(s)] = (codes[code(s)] ?? 0) + 1
      const afterRestart = samples.filter((s) => s.at >= restartedAt && s.at <= balancedAt)
      const share = ids.map((id) => shardsOf(id, [...ids].sort(), SHARDS).length)
      const maxHeld = ids.map((_, i) => Math.max(...afterRestart.map((s) => s.held[i])))
      let allShardsMs = 0
      for (let i = 1; i < samples.length; i++) if (samples[i - 1].held.some((h) => h === SHARDS) && samples[i].at >= killedAt) allShardsMs += samples[i].at - samples[i - 1].at
      console.log(
        JSON.stringify({
          sendsDuringOutage: during.length,
          codes,
          maxAnswerMsDuringOutage: Math.max(...during.map((s) => s.answeredAt! - s.at)),
          maxAnswerMsFrom500msAfterKill: Math.max(...later.map((s) => s.answeredAt! - s.at)),
          firstAckAfterRestartMs: { local: firstAcks[0], remote: firstAcks[1] },
          balancedAfterRestartMs: balancedAt - restartedAt,
          share,
          maxHeldAfterRestart: maxHeld,
          msAnyNodeHeldAllShards: allShardsMs
        })
      )
      for (const s of during) expect(["ack", "unavailable", "timeout"], JSON.stringify(s.reply)).toContain(code(s))
      expect(codes.unavailable ?? 0).toBeGreaterThan(20)
      // While the NATS circuit is open: answered at once, not after the command timeout.
      for (const s of later) expect(s.answeredAt! - s.at, JSON.stringify(s.reply)).toBeLessThan(500)
      for (const ms of firstAcks) expect(ms).toBeLessThan(15_000)
      // No node took every shard, and none more than its own share plus a margin.
      expect(allShardsMs).toBe(0)
      maxHeld.forEach((m, i) => expect(m, `node ${ids[i]}`).toBeLessThanOrEqual(share[i] + 4))

      const settled = await settle(client, load.sent)
      await checkRooms(c, [local, remote], load.sent, settled)
    } finally {
      sampling = false
      await load.stop()
      client.close()
    }
  }, 240_000)

  it("cluster - a write forwarded to a paused owner is answered timeout (outcome unknown), and its retry settles it once", async () => {
    const c = cluster!
    await awaitBalanced(c.nodes, 3)
    const ids = c.nodes.map((n) => n.id)
    const token = await c.token(`bob-${process.pid}`)
    const [room] = await roomsOwnedBy("n2", 1, c.nodes[0], token, ids)
    const client = await connect(c.nodes[0].wsUrl, token)
    try {
      expect((await client.request({ type: "send", room, clientMsgId: "p-1", body: "x" })).type).toBe("ack")
      const owner = c.nodes.find((n) => n.id === "n2")!
      owner.child.kill("SIGSTOP")
      const started = Date.now()
      let reply: Frame
      try {
        reply = await client.request({ type: "send", room, clientMsgId: "p-2", body: "y" }, 30_000)
      } finally {
        owner.child.kill("SIGCONT")
      }
      const ms = Date.now() - started
      console.log(JSON.stringify({ pausedOwnerAnswer: reply.type === "error" ? reply.code : reply.type, ms }))
      expect(reply.type).toBe("error")
      expect(reply.code, reply.message).toBe("timeout")
      expect(ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 200)
      expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + 2_000)
      const p2 = { room, id: "p-2", at: started, reply } satisfies Sent
      const settled = await settle(client, [p2])
      await checkRooms(c, [room], [p2], settled)
    } finally {
      client.close()
    }
  }, 120_000)
})
