/**
 * PostgreSQL crashes under load (`pg_ctl stop -m immediate` on a server this test owns) and
 * comes back: sends are answered `unavailable` fast while its circuit is open, /readyz turns
 * unready and names PostgreSQL, memory stays bounded, and after the restart the node commits
 * again by itself, with every acknowledged message stored once and the seq gapless.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startPostgres, type RunningPostgres } from "../support/postgres.ts"
import { startChild, type TestNode } from "../support/node.ts"
import { connect, type TestClient } from "../support/wsClient.ts"

let pg: RunningPostgres
let node: TestNode
let client: TestClient
let token: string
let room: string

const metric = async (name: string) => {
  const text = await (await fetch(`${node.url}/metrics`)).text()
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)
  return m ? Number(m[1]) : NaN
}

beforeAll(async () => {
  pg = await startPostgres({ durable: true })
  if (pg.halt === undefined) throw new Error("this test needs a PostgreSQL it starts itself (unset CHAT_TEST_POSTGRES_URL)")
  node = await startChild({ CHAT_STORE: "postgres", CHAT_POSTGRES_URL: pg.url, CHAT_SEND_RATE: "10000", CHAT_SEND_BURST: "10000" })
  token = await node.token("alice")
  const res = await fetch(`${node.url}/v1/rooms`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ kind: "group", name: "outage" })
  })
  room = ((await res.json()) as { id: string }).id
  client = await connect(node.wsUrl, token)
}, 120_000)

afterAll(async () => {
  client?.close()
  await node?.close()
  await pg?.stop()
})

describe("circuit - PostgreSQL", () => {
  it("circuit - a PostgreSQL crash is answered fast with unavailable, and the node recovers by itself with nothing acked lost", async () => {
    const acked = new Map<string, number>()
    let n = 0
    const send = async () => {
      const id = `m${++n}`
      const started = Date.now()
      const reply = await client.request({ type: "send", room, clientMsgId: id, body: `body ${n}` }, 15_000)
      if (reply.type === "ack") acked.set(id, reply.seq)
      return { id, reply, ms: Date.now() - started }
    }
    for (let i = 0; i < 20; i++) expect((await send()).reply.type).toBe("ack")
    const rssBefore = await metric("chat_runtime_resident_memory_bytes")

    pg.halt!()
    // Until the circuit opens, sends fail as the store fails (each within the command timeout).
    let opened: Awaited<ReturnType<typeof send>> | undefined
    const deadline = Date.now() + 30_000
    while (opened === undefined && Date.now() < deadline) {
      const r = await send()
      if (r.reply.type === "error" && /PostgreSQL is unavailable/.test(r.reply.message)) opened = r
      else expect(r.reply.type === "error" ? ["unavailable", "timeout"] : [], JSON.stringify(r.reply)).toContain(r.reply.code)
    }
    expect(opened, "the PostgreSQL circuit did not open").toBeDefined()
    // While open: every send answered unavailable ("nothing was stored") well under a second.
    const during = []
    for (let i = 0; i < 50; i++) during.push(await send())
    for (const r of during) {
      expect(r.reply.type).toBe("error")
      expect(r.reply.code).toBe("unavailable")
      expect(r.reply.message).toContain("nothing was stored")
      expect(r.ms).toBeLessThan(500)
    }
    const ready = await fetch(`${node.url}/readyz`)
    expect(ready.status).toBe(503)
    const body = (await ready.json()) as { checks: Record<string, string> }
    expect(body.checks["store:postgres"]).toMatch(/^failing: PostgreSQL circuit (open|half-open) \(.+\)/)
    expect(await metric("chat_circuit_state")).toBeGreaterThanOrEqual(1)
    // Bounded memory: refused sends hold nothing.
    expect(await metric("chat_runtime_resident_memory_bytes")).toBeLessThan(rssBefore + 100 * 1024 * 1024)

    pg.resume!()
    const back = Date.now()
    let firstAck: number | undefined
    while (firstAck === undefined && Date.now() < back + 30_000) {
      const r = await send()
      if (r.reply.type === "ack") firstAck = Date.now() - back
      else expect(r.reply.code).toBe("unavailable")
    }
    expect(firstAck, "no ack after PostgreSQL came back").toBeDefined()
    // The probe runs every 200 ms: the node commits again within about a second (2 s under load).
    expect(firstAck!).toBeLessThan(2_000)
    for (let i = 0; i < 10; i++) expect((await send()).reply.type).toBe("ack")
    expect((await fetch(`${node.url}/readyz`)).status).toBe(200)

    // Every acked message is stored once, and the seqs are gapless.
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
    const bySeq = stored.map((m) => m.seq).sort((a, b) => a - b)
    const snapshot = await client.request({ type: "subscribe", room })
    const lastSeq = snapshot.seq as number
    // Messages plus the room's member.joined event(s): together every seq 1..lastSeq once.
    expect(new Set(bySeq).size).toBe(bySeq.length)
    for (const [id, seq] of acked) {
      const m = stored.filter((s) => s.clientMsgId === id)
      expect(m, id).toHaveLength(1)
      expect(m[0].seq).toBe(seq)
    }
    expect(bySeq[bySeq.length - 1]).toBe(lastSeq)
    expect(lastSeq - bySeq[0] + 1).toBe(bySeq.length)
  }, 180_000)
})
