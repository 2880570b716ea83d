/**
 * The NATS test harness itself (tests/support/nats.ts): real nats-server processes.
 */
import { connect, type NatsConnection } from "nats"
import { afterEach, describe, expect, inject, it } from "vitest"
import { startNats, startNatsCluster } from "../support/nats.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f()
})

const client = async (servers: string | ReadonlyArray<string>, options: { noRandomize?: boolean } = {}) => {
  // Fast reconnects: the test waits for the reconnect, not for a backoff.
  const nc = await connect({ servers: [servers].flat(), reconnectTimeWait: 50, reconnectJitter: 0, ...options })
  cleanups.push(() => nc.close())
  return nc
}

/**
 * A JetStream request answered 503 ("no responders") while the cluster is still settling: a
 * leader just elected, or a restarted server whose routes are not up yet. Retried with a
 * short backoff until it is answered, within `deadlineMs`; any other error fails at once.
 */
const whenAnswered = async <A>(f: () => Promise<A>, deadlineMs = 15_000): Promise<A> => {
  const deadline = Date.now() + deadlineMs
  for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
    try {
      return await f()
    } catch (e) {
      if ((e as { code?: unknown }).code !== "503" || Date.now() + wait > deadline) throw e
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}

const bucketName = () => `t_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`

const kvRoundTrip = async (nc: NatsConnection, replicas: number) => {
  const bucket = bucketName()
  // Reads through the stream leader: a direct get may be answered by a replica that has not
  // applied the latest write yet, which right after a failover is likely.
  const kv = await nc.jetstream().views.kv(bucket, { replicas, allow_direct: false })
  await kv.put("greeting", "hello")
  expect((await kv.get("greeting"))?.string()).toBe("hello")
  expect((await kv.status()).replicas).toBe(replicas)
  return { bucket, kv }
}

describe("nats harness", () => {
  it("the run's shared server serves a JetStream KV bucket", async () => {
    await kvRoundTrip(await client(inject("natsUrl")), 1)
  })

  it("a server of its own serves JetStream KV, and stop() takes it down", async () => {
    const nats = await startNats()
    cleanups.push(nats.stop)
    const nc = await client(nats.url)
    await kvRoundTrip(nc, 1)
    await nc.close()
    await nats.stop()
    await expect(connect({ servers: nats.url, reconnect: false, timeout: 2_000 })).rejects.toThrow()
  })

  it(
    "a 3-server cluster keeps a replicas-3 KV bucket writable when the server holding the client and the stream leader is killed",
    async () => {
      const cluster = await startNatsCluster(3)
      cleanups.push(cluster.stop)
      expect(cluster.urls).toHaveLength(3)

      const setup = await client(cluster.urls)
      const { bucket } = await kvRoundTrip(setup, 3)
      const info = await (await setup.jetstreamManager()).streams.info(`KV_${bucket}`)
      const victim = cluster.nodes.find((n) => n.name === info.cluster?.leader)
      expect(victim).toBeDefined()

      // Connected to the stream leader first, with the other two as fallbacks.
      const nc = await client([victim!.url, ...cluster.urls.filter((u) => u !== victim!.url)], { noRandomize: true })
      expect(`nats://${nc.getServer()}`).toBe(victim!.url)
      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === "reconnect") return s.data
      })()
      const elected = nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.KV_${bucket}`, { max: 1 })
      const kv = await nc.jetstream().views.kv(bucket)
      await kv.put("k", "before")

      await victim!.kill()
      expect(victim!.running()).toBe(false)
      expect(`nats://${await reconnected}`).not.toBe(victim!.url)
      // The two survivors elect a new stream leader (Raft: seconds); writes work from then on.
      for await (const m of elected) expect(m.json<{ leader: string }>().leader).not.toBe(victim!.name)
      await whenAnswered(() => kv.put("k", "after"))
      expect((await kv.get("k"))?.string()).toBe("after")

      // Back on its ports and directory, it rejoins and serves the bucket again.
      await victim!.restart()
      expect(victim!.running()).toBe(true)
      const back = await client(victim!.url)
      const again = await whenAnswered(() => back.jetstream().views.kv(bucket))
      await whenAnswered(() => again.put("k", "rejoined"))
      expect((await kv.get("k"))?.string()).toBe("rejoined")
    },
    60_000
  )
})
