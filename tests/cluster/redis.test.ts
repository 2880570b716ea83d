import { afterAll, describe, expect, it } from "vitest"
import { startNats, type RunningNats } from "../support/nats.ts"
import { startRedis, type RunningRedis } from "../support/redis.ts"
import { waitFor } from "../support/wait.ts"
import { connect } from "../support/wsClient.ts"
import { awaitBalanced, createGroup, readyz, startCluster, steadySender, storedMessages, type TestCluster } from "./support.ts"

/** Another process's state (Redis reconnects on its own schedule): polled, bounded. */
const until = (what: string, check: () => Promise<boolean>, timeoutMs = 45_000) =>
  waitFor(what, check, { timeoutMs, intervalMs: 250 })

describe("cluster - Redis", () => {
  let nats: RunningNats | undefined
  let redis: RunningRedis | undefined
  let cluster: TestCluster | undefined
  afterAll(async () => {
    await cluster?.close()
    await redis?.stop()
    await nats?.stop()
  })

  it("cluster - presence is shared across nodes; with Redis down messages keep flowing; back up, presence recovers", async () => {
    nats = await startNats()
    redis = await startRedis()
    cluster = await startCluster(nats.url, ["n1", "n2"], { CHAT_REDIS_URL: redis.url })
    const c = cluster
    await awaitBalanced(c.nodes, 2)
    const [alice, bob] = [`alice-${process.pid}`, `bob-${process.pid}`]
    const [ta, tb] = [await c.token(alice), await c.token(bob)]
    const room = await createGroup(c.nodes[0], ta, [bob])
    const a = await connect(c.nodes[0].wsUrl, ta)
    await a.request({ type: "subscribe", room })
    const b = await connect(c.nodes[1].wsUrl, tb)
    await b.request({ type: "subscribe", room })
    // Bob joined on another node: alice's node learns it through Redis and NATS.
    expect(await a.waitFor((f) => f.type === "presence" && f.user === bob)).toMatchObject({ online: true })
    const online = async (node: (typeof c.nodes)[number]) =>
      (await (await fetch(`${node.url}/v1/rooms/${room}/presence`, { headers: { authorization: `Bearer ${ta}` } })).json()).online
    expect([...(await online(c.nodes[0]))].sort()).toEqual([alice, bob].sort())

    await redis.stop()
    const sender = steadySender({ nodes: () => c.nodes, token: ta, room, prefix: "down", count: 20, deadlineMs: 60_000 })
    await sender.done
    const { eventSeqs } = await storedMessages(c.dbUrl, room)
    expect(eventSeqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect((await b.events(room, 20)).map((e) => e.seq)).toEqual(eventSeqs)
    await until("readyz to report Redis degraded", async () => (await readyz(c.nodes[0])).checks.redis !== "ok")
    expect((await fetch(`${c.nodes[0].url}/readyz`)).status).toBe(200)

    await redis.restart()
    await until("presence to recover", async () => {
      const r = await readyz(c.nodes[0])
      const list = await online(c.nodes[1]).catch(() => [])
      return r.checks.redis === "ok" && list.includes(alice) && list.includes(bob)
    })
    a.close()
    b.close()
  }, 180_000)
})
