/**
 * PostgreSQL hangs under load (SIGSTOP to the server this test owns: connections stay open,
 * nothing answers) and comes back (SIGCONT). No send waits for the command timeout: the
 * commit in flight is answered `timeout` after CHAT_STORE_TIMEOUT_MS (its outcome is
 * unknown), the breaker opens on the hung call, and the rest are answered `unavailable`
 * (withdrawn: not stored) within a bound; after SIGCONT the node commits again by itself.
 * Every acked message is stored once, no `unavailable` one is stored, a retry of each
 * `timeout` one with its clientMsgId settles it, and the seq is gapless.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startPostgres, type RunningPostgres } from "../support/postgres.ts"
import { startChild, type TestNode } from "../support/node.ts"
import { waitFor } from "../support/wait.ts"
import { connect, type Frame, type TestClient } from "../support/wsClient.ts"

const STORE_TIMEOUT_MS = 2_000
let pg: RunningPostgres
let node: TestNode
let client: TestClient
let token: string
let room: string

beforeAll(async () => {
  pg = await startPostgres({ durable: true })
  if (pg.freeze === undefined) throw new Error("this test needs a PostgreSQL it starts itself (unset CHAT_TEST_POSTGRES_URL)")
  node = await startChild({
    CHAT_STORE: "postgres",
    CHAT_POSTGRES_URL: pg.url,
    CHAT_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
    CHAT_SEND_RATE: "10000",
    CHAT_SEND_BURST: "10000"
  })
  token = await node.token("alice")
  const res = await fetch(`${node.url}/v1/rooms`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ kind: "group", name: "hang" })
  })
  room = ((await res.json()) as { id: string }).id
  client = await connect(node.wsUrl, token)
}, 120_000)

afterAll(async () => {
  pg?.thaw?.()
  client?.close()
  await node?.close()
  await pg?.stop()
})

interface Sent {
  readonly id: string
  readonly at: number
  answeredAt?: number
  reply?: Frame
}

describe("circuit - PostgreSQL hangs", () => {
  it("circuit - a hung PostgreSQL is answered within a bound (timeout for the commit in flight, unavailable for the rest), and the node recovers after SIGCONT with nothing acked lost", async () => {
    const sent: Array<Sent> = []
    let n = 0
    const send = () => {
      const s: Sent = { id: `h${++n}`, at: Date.now() }
      sent.push(s)
      const done = client.request({ type: "send", room, clientMsgId: s.id, body: `body ${n}` }, 30_000).then((reply) => {
        s.answeredAt = Date.now()
        s.reply = reply
      })
      return done
    }
    const inflight: Array<Promise<void>> = []
    // 20 sends a second, each sent without waiting for the one before (a client with a queue).
    const pace = setInterval(() => inflight.push(send()), 50)
    try {
      await waitFor("20 acks before the hang", () => sent.filter((s) => s.reply?.type === "ack").length >= 20, { timeoutMs: 20_000 })
      pg.freeze!()
      const frozenAt = Date.now()
      let openedAt: number | undefined
      await waitFor(
        "the PostgreSQL circuit to open",
        () => {
          const first = sent.find((s) => s.reply?.type === "error" && /PostgreSQL is unavailable/.test(s.reply.message))
          openedAt = first?.answeredAt
          return openedAt !== undefined
        },
        { timeoutMs: 20_000 }
      )
      const ready = await fetch(`${node.url}/readyz`)
      expect(ready.status).toBe(503)
      const reason = ((await ready.json()) as { checks: Record<string, string> }).checks["store:postgres"]
      expect(reason).toMatch(/^failing: PostgreSQL circuit (open|half-open) \(.*did not answer within 2000 ms/)
      // Keep the server stopped for a while under load: 6 s in all.
      await waitFor("6 s of hang", () => Date.now() - frozenAt >= 6_000, { timeoutMs: 10_000 })
      pg.thaw!()
      const thawedAt = Date.now()
      await waitFor(
        "an ack of a send made after SIGCONT",
        () => sent.some((s) => s.at >= thawedAt && s.reply?.type === "ack"),
        { timeoutMs: 10_000 }
      )
      const firstAckAfter = Math.min(...sent.filter((s) => s.at >= thawedAt && s.reply?.type === "ack").map((s) => s.answeredAt!)) - thawedAt
      await waitFor("20 more acks", () => sent.filter((s) => s.at >= thawedAt && s.reply?.type === "ack").length >= 20, { timeoutMs: 20_000 })
      clearInterval(pace)
      await Promise.all(inflight)

      // Every send was answered, none later than the store deadline, one health check and a
      // restart's store call after it (the command timeout, 10 s, is never reached).
      const during = sent.filter((s) => s.at >= frozenAt - 500 && s.at < thawedAt)
      const answerMs = during.map((s) => s.answeredAt! - s.at)
      const codes = new Map<string, number>()
      for (const s of during) codes.set(s.reply!.type === "ack" ? "ack" : s.reply!.code, (codes.get(s.reply!.type === "ack" ? "ack" : s.reply!.code) ?? 0) + 1)
      const afterOpen = sent.filter((s) => s.at >= openedAt! && s.at < thawedAt)
      const afterOpenMs = afterOpen.map((s) => s.answeredAt! - s.at)
      console.log(
        JSON.stringify({
          sendsDuringHang: during.length,
          codes: Object.fromEntries(codes),
          maxAnswerMs: Math.max(...answerMs),
          circuitOpenAfterMs: openedAt! - frozenAt,
          maxAnswerMsWhileOpen: Math.max(...afterOpenMs),
          firstAckAfterSigcontMs: firstAckAfter
        })
      )
      for (const s of during) {
        if (s.reply!.type !== "ack") expect(["unavailable", "timeout"], JSON.stringify(s.reply)).toContain(s.reply!.code)
      }
      expect(Math.max(...answerMs)).toBeLessThan(2 * STORE_TIMEOUT_MS + 2_500)
      expect(codes.get("timeout") ?? 0, "the commit in flight is answered timeout").toBeGreaterThan(0)
      expect(afterOpen.length).toBeGreaterThan(20)
      for (const ms of afterOpenMs) expect(ms).toBeLessThan(500)
      expect(openedAt! - frozenAt).toBeLessThan(STORE_TIMEOUT_MS + 2_500)
      expect(firstAckAfter).toBeLessThan(2_000)
      expect((await fetch(`${node.url}/readyz`)).status).toBe(200)

      // The timed-out ones: a retry with the same clientMsgId is answered with the one outcome.
      const unknown = sent.filter((s) => s.reply!.type === "error" && s.reply!.code === "timeout")
      const settled = new Map<string, number>()
      for (const s of unknown) {
        const again = await client.request({ type: "send", room, clientMsgId: s.id, body: "retry" }, 15_000)
        expect(again.type, JSON.stringify(again)).toBe("ack")
        settled.set(s.id, again.seq)
      }

      const stored: Array<{ seq: number; clientMsgId?: string }> = []
      let before: number | undefined
      for (;;) {
        const q = before === undefined ? "limit=200" : `limit=200&before=${before}`
        const page = (await (await fetch(`${node.url}/v1/rooms/${room}/messages?${q}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
          messages: Array<{ seq: number; clientMsgId?: string }>
          hasMore: boolean
        }
        stored.push(...page.messages)
        if (!page.hasMore || page.messages.length === 0) break
        before = page.messages[page.messages.length - 1].seq
      }
      const byId = new Map<string, Array<number>>()
      for (const m of stored) if (m.clientMsgId !== undefined) byId.set(m.clientMsgId, [...(byId.get(m.clientMsgId) ?? []), m.seq])
      for (const s of sent) {
        const seqs = byId.get(s.id) ?? []
        if (s.reply!.type === "ack") expect(seqs, s.id).toEqual([s.reply!.seq])
        else if (s.reply!.code === "unavailable") expect(seqs, `${s.id} was answered unavailable but is stored`).toEqual([])
        else expect(seqs, s.id).toEqual([settled.get(s.id)])
      }
      const seqs = stored.map((m) => m.seq).sort((a, b) => a - b)
      const snapshot = await client.request({ type: "subscribe", room })
      expect(new Set(seqs).size).toBe(seqs.length)
      expect(seqs[seqs.length - 1]).toBe(snapshot.seq)
      expect(snapshot.seq - seqs[0] + 1).toBe(seqs.length)
    } finally {
      clearInterval(pace)
      pg.thaw!()
    }
  }, 180_000)
})
