/**
 * Push in clustered mode: two nodes (child processes, NATS, one PostgreSQL, Redis presence)
 * with CHAT_PUSH_WORKER=external, and one `chat push-worker` process on the same database.
 */
import postgres from "postgres"
import { afterAll, describe, expect, it } from "vitest"
import { generateVapidKeys } from "../../src/push/providers/webPush.ts"
import { startNats, type RunningNats } from "../support/nats.ts"
import { startRedis, type RunningRedis } from "../support/redis.ts"
import { startWebPushEndpoint, type WebPushEndpoint } from "../support/pushEndpoints.ts"
import { startPushWorker, type WorkerProc } from "../support/pushWorker.ts"
import { connect } from "../support/wsClient.ts"
import { createGroup, startCluster, type TestCluster } from "./support.ts"

describe("cluster - push", () => {
  let nats: RunningNats | undefined
  let redis: RunningRedis | undefined
  let cluster: TestCluster | undefined
  let worker: WorkerProc | undefined
  let web: WebPushEndpoint | undefined
  afterAll(async () => {
    await worker?.stop()
    await cluster?.close()
    await redis?.stop()
    await nats?.stop()
    await web?.close()
  })

  it("cluster - two nodes, one worker: an offline member's two devices get one coalesced notification each; none while he looks at the room", async () => {
    const vapid = generateVapidKeys()
    web = await startWebPushEndpoint(() => vapid.publicKey)
    nats = await startNats()
    redis = await startRedis()
    const env = {
      CHAT_REDIS_URL: redis.url,
      CHAT_VAPID_PUBLIC_KEY: vapid.publicKey,
      CHAT_VAPID_PRIVATE_KEY: vapid.privateKey,
      CHAT_PUSH_WORKER: "external",
      CHAT_PUSH_SETTLE_MS: "3000",
      CHAT_PUSH_POLL_MS: "50"
    }
    cluster = await startCluster(nats.url, ["p1", "p2"], env)
    const [n1, n2] = cluster.nodes
    worker = startPushWorker({ ...env, CHAT_STORE: "postgres", CHAT_POSTGRES_URL: cluster.dbUrl, CHAT_MASTER_KEY: "11".repeat(32) })
    const sql = postgres(cluster.dbUrl, { max: 1, onnotice: () => {} })
    const drained = async () => {
      // The worker tells a test nothing when it decides not to notify: the queue is the signal.
      for (let i = 0; i < 600; i++) {
        const [row] = await sql`SELECT count(*)::int AS n FROM push_intents`
        if (row!.n === 0) return
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error("push queue not drained")
    }
    try {
      const [alice, bob] = ["alice-push", "bob-push"]
      const room = await createGroup(n1!, await cluster.token(alice), [bob])
      const [browser, laptop] = ["cl-browser", "cl-laptop"]
      for (const d of [browser, laptop]) {
        const res = await fetch(`${n2!.url}/v1/devices`, {
          method: "POST",
          headers: { authorization: `Bearer ${await cluster.token(bob)}`, "content-type": "application/json" },
          body: JSON.stringify({ token: web.subscription(d), platform: "webpush" })
        })
        expect(res.status).toBe(204)
      }
      const a = await connect(n1!.wsUrl, await cluster.token(alice))
      await a.request({ type: "subscribe", room })
      for (let i = 1; i <= 5; i++) expect((await a.request({ type: "send", room, clientMsgId: `c${i}`, body: `m${i}` })).type).toBe("ack")
      await web.received.until((xs) => [browser, laptop].every((d) => xs.some((x) => x.device === d)), 60_000)
      await drained()
      for (const d of [browser, laptop]) {
        const got = web.received.items.filter((x) => x.device === d)
        expect(got.length).toBe(1)
        expect(got[0]!.payload).toMatchObject({ room, sender: alice, seq: "5", count: "5" })
      }

      // Bob looks at the room from the other node: presence (Redis) tells the worker.
      const b = await connect(n2!.wsUrl, await cluster.token(bob))
      const from = a.frames.length
      await b.request({ type: "subscribe", room })
      await a.waitFor((f) => f.type === "presence" && f.user === bob && f.online === true, 10_000, from)
      await a.request({ type: "send", room, clientMsgId: "seen", body: "seen live" })
      await drained()
      expect(web.received.items.filter((x) => x.device === browser || x.device === laptop).length).toBe(2)
      b.close()
      a.close()
    } finally {
      await sql.end()
    }
  }, 180_000)
})
