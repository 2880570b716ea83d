/**
 * The per-user socket cap across two nodes sharing one Redis (real redis-server, two
 * in-process nodes on their own PGlite): sockets on either node count against the cap;
 * with Redis down each node falls back to its own count.
 */
import { Option, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { startRedis, type RunningRedis } from "../support/redis.ts"
import { startInProcess, token, type TestNode } from "../support/node.ts"
import { connect, type TestClient } from "../support/wsClient.ts"

/** Bounded polling: the other node's count reaches Redis just after its socket opens. */
const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The HTTP status of an upgrade attempt: 101 when it opened (then closed again). */
const upgradeStatus = async (node: TestNode, jwt: string): Promise<number> => {
  try {
    const c = await connect(node.wsUrl, jwt)
    c.close()
    await c.closed
    return 101
  } catch (e) {
    return (e as { status?: number }).status ?? 0
  }
}

describe("e2e - per-user socket cap with Redis", () => {
  let redis: RunningRedis | undefined
  const nodes: Array<TestNode> = []
  const clients: Array<TestClient> = []
  afterAll(async () => {
    for (const c of clients) c.close()
    for (const n of nodes) await n.close()
    await redis?.stop()
  })

  it("sockets - the cap counts a user's sockets on every node through Redis, and falls back to each node's own count when Redis is down", async () => {
    redis = await startRedis()
    const redisUrl = Option.some(Redacted.make(redis.url))
    for (const nodeId of ["cap-n1", "cap-n2"]) nodes.push(await startInProcess({ redisUrl, nodeId, maxSocketsPerUser: 2 }))
    const [n1, n2] = nodes as [TestNode, TestNode]
    const jwt = await token(`alice-${process.pid}`)
    clients.push(await connect(n1.wsUrl, jwt), await connect(n2.wsUrl, jwt))
    // Two sockets, one per node: a third is refused on either node.
    await until("n2's socket to count on n1", async () => (await upgradeStatus(n1, jwt)) === 429)
    expect(await upgradeStatus(n2, jwt)).toBe(429)

    await redis.stop()
    // Redis down: each node enforces the cap on its own sockets (one open here, cap 2).
    await until("n1 to fall back to its own count", async () => (await upgradeStatus(n1, jwt)) === 101)
    clients.push(await connect(n1.wsUrl, jwt))
    await expect(connect(n1.wsUrl, jwt)).rejects.toMatchObject({ status: 429 })
  }, 120_000)
})
