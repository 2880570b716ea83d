/**
 * CHAT_NATS_PREFIX: two clusters on one NATS server, each with its own prefix, do not see
 * each other's nodes, shards, rooms or events.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { NatsConnection } from "nats"
import { startNats, type RunningNats } from "../support/nats.ts"
import { awaitBalanced, createGroup, natsClient, SHARDS, startCluster, type TestCluster } from "./support.ts"

describe("cluster - NATS namespace (CHAT_NATS_PREFIX)", () => {
  let nats: RunningNats
  let blue: TestCluster
  let green: TestCluster
  let nc: NatsConnection
  beforeAll(async () => {
    nats = await startNats()
    ;[blue, green] = await Promise.all([
      startCluster(nats.url, ["blue1"], { CHAT_NATS_PREFIX: "blue" }),
      startCluster(nats.url, ["green1"], { CHAT_NATS_PREFIX: "green" })
    ])
    nc = await natsClient(nats.url)
  }, 300_000)
  afterAll(async () => {
    await nc?.close()
    await Promise.all([blue?.close(), green?.close()])
    await nats?.stop()
  })

  it("cluster - two clusters with different prefixes on one NATS each see only their own node and hold every shard", async () => {
    const [b] = await awaitBalanced(blue.nodes, 1)
    const [g] = await awaitBalanced(green.nodes, 1)
    expect(b.cluster.live).toEqual(["blue1"])
    expect(g.cluster.live).toEqual(["green1"])
    expect(b.cluster.shardsHeld).toBe(SHARDS)
    expect(g.cluster.shardsHeld).toBe(SHARDS)
    // Buckets and streams carry the prefix; the unprefixed names are not used.
    const jsm = await nc.jetstreamManager()
    const streams = (await jsm.streams.names().next()).sort()
    expect(streams).toEqual(["KV_blue_chat_leases", "KV_blue_chat_nodes", "KV_green_chat_leases", "KV_green_chat_nodes", "blue_CHAT_PUSH", "green_CHAT_PUSH"])
  }, 120_000)

  it("cluster - a room's events and ingress live under its cluster's prefix only", async () => {
    const alice = `alice-${process.pid}`
    const room = await createGroup(blue.nodes[0], await blue.token(alice), [])
    const seen: Array<string> = []
    const all = nc.subscribe(">", { callback: (_e, m) => seen.push(m.subject) })
    const events = nc.subscribe(`blue.chat.room.${room}.events`, { max: 1 })
    await nc.flush()
    // The other cluster's ingress does not know the room; this cluster's sends it.
    const other = JSON.parse(
      (await nc.request(`green.chat.room.${room}.send`, JSON.stringify({ sender: alice, body: "x", clientMsgId: "g1" }), { timeout: 20_000 })).string()
    )
    expect(other.ok).toBe(false)
    expect(other.error.code).toBe("not_found")
    const ack = JSON.parse(
      (await nc.request(`blue.chat.room.${room}.send`, JSON.stringify({ sender: alice, body: "hi", clientMsgId: "b1" }), { timeout: 20_000 })).string()
    )
    expect(ack.ok).toBe(true)
    for await (const m of events) expect(JSON.parse(m.string()).seq).toBe(ack.ack.seq)
    await nc.flush()
    all.unsubscribe()
    // Nothing of this room went out on an unprefixed or the other cluster's subject.
    const leaked = seen.filter((s) => s.includes(room) && !s.startsWith("blue.") && s !== `green.chat.room.${room}.send`)
    expect(leaked).toEqual([])
    expect(seen).toContain(`blue.chat.room.${room}.events`)
  }, 120_000)
})
