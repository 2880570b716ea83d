/**
 * Redis hangs (SIGSTOP to a server of this test's own) under load and comes back (SIGCONT).
 * Its circuit opens after a few command timeouts; from then on presence, socket counting
 * and rate limits answer from this node at once (sends acked fast, new sockets accepted
 * fast), /readyz stays 200 and words the cause; after SIGCONT the circuit closes by itself
 * and /readyz reports Redis ok again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startRedis, type RunningRedis } from "../support/redis.ts"
import { startChild, type TestNode } from "../support/node.ts"
import { waitFor } from "../support/wait.ts"
import { connect, type Frame, type TestClient } from "../support/wsClient.ts"

let redis: RunningRedis
let node: TestNode
let client: TestClient
let token: string
let room: string

const metric = async (name: string, labels = "") => {
  const text = await (await fetch(`${node.url}/metrics`)).text()
  const m = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? (\\S+)$`, "m").exec(text)
  return m ? Number(m[1]) : NaN
}
const readyz = async () => {
  const r = await fetch(`${node.url}/readyz`)
  return { status: r.status, checks: ((await r.json()) as { checks: Record<string, string> }).checks }
}

beforeAll(async () => {
  redis = await startRedis()
  node = await startChild({ CHAT_REDIS_URL: redis.url, CHAT_SEND_RATE: "10000", CHAT_SEND_BURST: "10000" })
  token = await node.token("alice")
  const res = await fetch(`${node.url}/v1/rooms`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ kind: "group", name: "redis" })
  })
  room = ((await res.json()) as { id: string }).id
  client = await connect(node.wsUrl, token)
  await client.request({ type: "subscribe", room })
}, 120_000)

afterAll(async () => {
  if (redis !== undefined) process.kill(redis.pid(), "SIGCONT")
  client?.close()
  await node?.close()
  await redis?.stop()
})

interface Sent {
  readonly at: number
  answeredAt?: number
  reply?: Frame
}

describe("circuit - Redis", () => {
  it("circuit - a hung Redis opens its circuit: sends and new sockets are served from the node at once, /readyz stays ready and says why, and it closes after SIGCONT", async () => {
    const sent: Array<Sent> = []
    const inflight: Array<Promise<void>> = []
    let n = 0
    const pace = setInterval(() => {
      const s: Sent = { at: Date.now() }
      sent.push(s)
      inflight.push(
        client.request({ type: "send", room, clientMsgId: `r${++n}`, body: `body ${n}` }, 30_000).then((reply) => {
          s.answeredAt = Date.now()
          s.reply = reply
        })
      )
    }, 50)
    let stopped = false
    try {
      await waitFor("10 acks first", () => sent.filter((s) => s.reply?.type === "ack").length >= 10, { timeoutMs: 30_000 })
      expect((await readyz()).checks.redis).toBe("ok")
      process.kill(redis.pid(), "SIGSTOP")
      stopped = true
      const stoppedAt = Date.now()
      await waitFor("the Redis circuit to open", async () => (await metric("chat_circuit_state", 'dependency="redis"')) === 2, {
        timeoutMs: 30_000
      })
      const openedAt = Date.now()
      const ready = await readyz()
      expect(ready.status).toBe(200)
      expect(ready.checks.redis).toMatch(/^degraded: Redis circuit (open|half-open) \(.+\); rate limits per node, presence from this node only$/)
      // A new socket (counted per user in Redis) is accepted without waiting for Redis.
      const connectStarted = Date.now()
      const second = await connect(node.wsUrl, token)
      const connectMs = Date.now() - connectStarted
      second.close()
      await waitFor("5 s of hang", () => Date.now() - stoppedAt >= 5_000, { timeoutMs: 10_000 })
      process.kill(redis.pid(), "SIGCONT")
      stopped = false
      const resumedAt = Date.now()
      await waitFor("the Redis circuit to close", async () => (await metric("chat_circuit_state", 'dependency="redis"')) === 0, {
        timeoutMs: 30_000
      })
      const closedAfterMs = Date.now() - resumedAt
      await waitFor("/readyz to report Redis ok", async () => (await readyz()).checks.redis === "ok", { timeoutMs: 30_000 })
      clearInterval(pace)
      await Promise.all(inflight)

      const during = sent.filter((s) => s.at >= stoppedAt && s.at < resumedAt)
      const whileOpen = sent.filter((s) => s.at >= openedAt && s.at < resumedAt)
      const ms = (xs: ReadonlyArray<Sent>) => xs.map((s) => s.answeredAt! - s.at)
      console.log(
        JSON.stringify({
          sendsDuringHang: during.length,
          circuitOpenAfterMs: openedAt - stoppedAt,
          maxAnswerMsDuringHang: Math.max(...ms(during)),
          maxAnswerMsWhileOpen: Math.max(...ms(whileOpen)),
          newSocketMsWhileOpen: connectMs,
          circuitClosedAfterSigcontMs: closedAfterMs
        })
      )
      // Redis never stops messages: every send was acked.
      for (const s of sent) expect(s.reply?.type, JSON.stringify(s.reply)).toBe("ack")
      expect(whileOpen.length).toBeGreaterThan(20)
      for (const t of ms(whileOpen)) expect(t).toBeLessThan(500)
      expect(connectMs).toBeLessThan(1_000)
      expect(closedAfterMs).toBeLessThan(5_000)
    } finally {
      clearInterval(pace)
      if (stopped) process.kill(redis.pid(), "SIGCONT")
    }
  }, 120_000)
})
