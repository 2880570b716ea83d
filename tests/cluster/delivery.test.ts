import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { consumerOpts } from "nats"
import { startNats, type RunningNats } from "../support/nats.ts"
import { connect } from "../support/wsClient.ts"
import { awaitBalanced, createGroup, natsClient, startCluster, type TestCluster } from "./support.ts"

describe("cluster - delivery across nodes", () => {
  let nats: RunningNats
  let cluster: TestCluster
  beforeAll(async () => {
    nats = await startNats()
    cluster = await startCluster(nats.url, ["n1", "n2", "n3"])
    await awaitBalanced(cluster.nodes, 3)
  }, 120_000)
  afterAll(async () => {
    await cluster?.close()
    await nats?.stop()
  })

  it("cluster - clients spread over three nodes see every message of their rooms exactly once, in seq order", async () => {
    const users = ["u1", "u2", "u3", "u4", "u5", "u6"].map((u) => `${u}-${process.pid}`)
    const tokens = await Promise.all(users.map((u) => cluster.token(u)))
    const rooms = await Promise.all([0, 1, 2].map((i) => createGroup(cluster.nodes[i], tokens[0], users.slice(1))))
    // Two clients per node, each subscribed to every room.
    const clients = await Promise.all(users.map((_, i) => connect(cluster.nodes[i % 3].wsUrl, tokens[i])))
    for (const c of clients) for (const room of rooms) expect((await c.request({ type: "subscribe", room })).type).toBe("subscribed")
    // Every client sends 10 messages to every room, pipelined.
    const acks = await Promise.all(
      clients.flatMap((c, i) =>
        rooms.flatMap((room) =>
          Array.from({ length: 10 }, (_, k) => c.request({ type: "send", room, clientMsgId: `c${i}-${k}`, body: `from ${i}: ${k}` }, 20_000))
        )
      )
    )
    expect(acks.every((a) => a.type === "ack")).toBe(true)
    const perRoom = clients.length * 10
    for (const c of clients) {
      for (const room of rooms) {
        const events = await c.events(room, perRoom, 30_000)
        expect(events.map((e) => e.seq)).toEqual(Array.from({ length: perRoom }, (_, i) => i + 1))
      }
    }
    for (const c of clients) c.close()
  }, 120_000)

  it("cluster - an internal service sends over chat.room.<room>.send and WebSocket subscribers get the event; a bad payload gets an error reply", async () => {
    const alice = `alice-${process.pid}`
    const token = await cluster.token(alice)
    const room = await createGroup(cluster.nodes[0], token, [])
    const ws = await connect(cluster.nodes[2].wsUrl, token)
    await ws.request({ type: "subscribe", room })
    const nc = await natsClient(nats.url)
    try {
      const ok = JSON.parse(
        (await nc.request(`chat.room.${room}.send`, JSON.stringify({ sender: alice, body: "from a service", clientMsgId: "svc-1" }), { timeout: 10_000 })).string()
      )
      expect(ok).toMatchObject({ ok: true, ack: { room, seq: 1 } })
      const [event] = await ws.events(room, 1)
      expect(event.data).toMatchObject({ body: "from a service", sender: alice })
      const again = JSON.parse(
        (await nc.request(`chat.room.${room}.send`, JSON.stringify({ sender: alice, body: "from a service", clientMsgId: "svc-1" }), { timeout: 10_000 })).string()
      )
      expect(again.ack.seq).toBe(1)
      const bad = JSON.parse((await nc.request(`chat.room.${room}.send`, "{nope", { timeout: 10_000 })).string())
      expect(bad).toMatchObject({ ok: false, error: { code: "bad_request" } })
      const missing = JSON.parse(
        (await nc.request(`chat.room.${room}.send`, JSON.stringify({ sender: alice, clientMsgId: "x" }), { timeout: 10_000 })).string()
      )
      expect(missing).toMatchObject({ ok: false, error: { code: "bad_request" } })
      const stranger = JSON.parse(
        (await nc.request(`chat.room.${room}.send`, JSON.stringify({ sender: "stranger", body: "b", clientMsgId: "y" }), { timeout: 10_000 })).string()
      )
      expect(stranger).toMatchObject({ ok: false, error: { code: "not_found" } })
    } finally {
      await nc.close()
      ws.close()
    }
  }, 60_000)

  it("cluster - a member with no live socket anywhere gets a push intent on chat.push.<user>", async () => {
    const [alice, offline] = [`alice-${process.pid}`, `offline.user ${process.pid}`]
    const token = await cluster.token(alice)
    const room = await createGroup(cluster.nodes[1], token, [offline])
    const ws = await connect(cluster.nodes[0].wsUrl, token)
    const ack = await ws.request({ type: "send", room, clientMsgId: "push-1", body: "are you there?" })
    expect(ack.type).toBe("ack")
    const nc = await natsClient(nats.url)
    try {
      const js = nc.jetstream()
      const subject = `chat.push.${Buffer.from(offline).toString("base64url")}`
      const opts = consumerOpts().orderedConsumer().deliverAll()
      const sub = await js.subscribe(subject, opts)
      const msg = await new Promise<any>((resolve) => {
        void (async () => {
          for await (const m of sub) return resolve(JSON.parse(m.string()))
        })()
      })
      expect(msg).toMatchObject({ room, seq: ack.seq, messageId: ack.messageId, sender: alice, user: offline })
      expect(JSON.stringify(msg)).not.toContain("are you there?")
      sub.unsubscribe()
    } finally {
      await nc.close()
      ws.close()
    }
  }, 60_000)
})
