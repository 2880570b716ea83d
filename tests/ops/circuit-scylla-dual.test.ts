/**
 * CHAT_STORE=dual with a Cassandra of this test's own (the ScyllaDB stand-in), stopped with
 * SIGSTOP under load and resumed with SIGCONT: a hang, the hardest case for a driver. Sends
 * keep being acked from PostgreSQL, fast; ScyllaDB's circuit opens and /readyz names it (the
 * node stays ready: reads come from PostgreSQL); the outbox holds the copies; after SIGCONT
 * the circuit closes by itself, the outbox drains, and `chat verify` finds both sides equal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startCassandra, type RunningCassandra } from "../../scripts/cassandra/server.ts"
import { dropDatabase, freshDatabase } from "../support/freshDatabase.ts"
import { runCli, startChild, TEST_MASTER_KEY, type TestNode } from "../support/node.ts"
import { waitFor } from "../support/wait.ts"
import { connect, type Frame, type TestClient } from "../support/wsClient.ts"
import { storedMessages } from "../cluster/support.ts"

let cassandra: RunningCassandra
let cassandraDir: string
let dbUrl: string
let node: TestNode
let client: TestClient
let token: string
const rooms: Array<string> = []
const keyspace = `dualhang_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`
let env: Record<string, string>

const metric = async (name: string, labels = "") => {
  const text = await (await fetch(`${node.url}/metrics`)).text()
  const m = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? (\\S+)$`, "m").exec(text)
  return m ? Number(m[1]) : NaN
}

beforeAll(async () => {
  cassandraDir = mkdtempSync(join(tmpdir(), "chat-cassandra-hang-"))
  cassandra = await startCassandra({ dataDir: cassandraDir, heap: "768m" })
  dbUrl = await freshDatabase()
  env = {
    CHAT_STORE: "dual",
    CHAT_POSTGRES_URL: dbUrl,
    CHAT_SCYLLA_CONTACT_POINTS: cassandra.contactPoint,
    CHAT_SCYLLA_KEYSPACE: keyspace,
    CHAT_SCYLLA_CONSISTENCY: "ONE",
    CHAT_MASTER_KEY: TEST_MASTER_KEY
  }
  node = await startChild({ ...env, CHAT_SEND_RATE: "10000", CHAT_SEND_BURST: "10000" })
  token = await node.token("alice")
  for (const name of ["one", "two"]) {
    const res = await fetch(`${node.url}/v1/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ kind: "group", name })
    })
    rooms.push(((await res.json()) as { id: string }).id)
  }
  client = await connect(node.wsUrl, token)
}, 300_000)

afterAll(async () => {
  if (cassandra !== undefined) process.kill(cassandra.pid, "SIGCONT")
  client?.close()
  await node?.close()
  await cassandra?.stop()
  if (cassandraDir !== undefined) rmSync(cassandraDir, { recursive: true, force: true })
  if (dbUrl !== undefined) await dropDatabase(dbUrl).catch(() => undefined)
}, 120_000)

interface Sent {
  readonly room: string
  readonly id: string
  readonly at: number
  answeredAt?: number
  reply?: Frame
}

describe("circuit - ScyllaDB in dual mode", () => {
  it("circuit - Cassandra hung (SIGSTOP) during dual-write: sends acked from PostgreSQL, its circuit opens, the outbox holds the copies and drains after SIGCONT, verify clean", async () => {
    const sent: Array<Sent> = []
    const inflight: Array<Promise<void>> = []
    let n = 0
    // 20 sends a second over two rooms, each without waiting for the one before.
    const pace = setInterval(() => {
      const s: Sent = { room: rooms[n % 2], id: `d${++n}`, at: Date.now() }
      sent.push(s)
      inflight.push(
        client.request({ type: "send", room: s.room, clientMsgId: s.id, body: `body ${n}` }, 30_000).then((reply) => {
          s.answeredAt = Date.now()
          s.reply = reply
        })
      )
    }, 50)
    let stopped = false
    try {
      await waitFor("20 acks first", () => sent.filter((s) => s.reply?.type === "ack").length >= 20, { timeoutMs: 30_000 })
      await waitFor("the outbox to be empty first", async () => (await metric("chat_dual_outbox_entries")) === 0, { timeoutMs: 30_000 })
      process.kill(cassandra.pid, "SIGSTOP")
      stopped = true
      const stoppedAt = Date.now()
      await waitFor("the ScyllaDB circuit to open", async () => (await metric("chat_circuit_state", 'dependency="scylla"')) === 2, {
        timeoutMs: 30_000
      })
      const openAfterMs = Date.now() - stoppedAt
      const ready = await fetch(`${node.url}/readyz`)
      const checks = ((await ready.json()) as { checks: Record<string, string> }).checks
      expect(ready.status, JSON.stringify(checks)).toBe(200)
      expect(checks["store:scylla"]).toMatch(/^degraded: failing: ScyllaDB circuit (open|half-open) \(.+\); writes wait in the outbox$/)
      expect(checks["store:dual"]).toBe("ok")
      // Keep it stopped for 10 s in all, under load.
      await waitFor("10 s of hang", () => Date.now() - stoppedAt >= 10_000, { timeoutMs: 15_000 })
      const heldInOutbox = await metric("chat_dual_outbox_entries")
      expect(heldInOutbox).toBeGreaterThan(0)
      process.kill(cassandra.pid, "SIGCONT")
      stopped = false
      const resumedAt = Date.now()
      await waitFor("the ScyllaDB circuit to close", async () => (await metric("chat_circuit_state", 'dependency="scylla"')) === 0, {
        timeoutMs: 60_000
      })
      const closedAfterMs = Date.now() - resumedAt
      clearInterval(pace)
      await Promise.all(inflight)
      await waitFor("the outbox to drain", async () => (await metric("chat_dual_outbox_entries")) === 0, { timeoutMs: 60_000 })
      const drainedAfterMs = Date.now() - resumedAt

      const during = sent.filter((s) => s.at >= stoppedAt && s.at < resumedAt)
      const ms = during.map((s) => s.answeredAt! - s.at).sort((a, b) => a - b)
      console.log(
        JSON.stringify({
          sendsDuringHang: during.length,
          acked: during.filter((s) => s.reply?.type === "ack").length,
          p50AnswerMs: ms[Math.floor(ms.length / 2)],
          maxAnswerMs: ms[ms.length - 1],
          circuitOpenAfterMs: openAfterMs,
          outboxEntriesHeld: heldInOutbox,
          circuitClosedAfterSigcontMs: closedAfterMs,
          outboxDrainedAfterSigcontMs: drainedAfterMs
        })
      )
      // Every send during the hang was acked from PostgreSQL, without waiting for ScyllaDB.
      for (const s of during) expect(s.reply?.type, JSON.stringify(s.reply)).toBe("ack")
      expect(ms[ms.length - 1]).toBeLessThan(1_500)

      for (const room of rooms) {
        const { messages, eventSeqs } = await storedMessages(dbUrl, room)
        expect(eventSeqs).toEqual(Array.from({ length: eventSeqs.length }, (_, k) => k + 1))
        for (const s of sent.filter((x) => x.room === room)) {
          expect(messages.filter((m) => m.client_msg_id === s.id).map((m) => m.seq), s.id).toEqual([s.reply!.seq])
        }
      }
      const verifyDir = mkdtempSync(join(tmpdir(), "chat-verify-"))
      const verified = await runCli(["verify"], { ...env, CHAT_DATA_DIR: verifyDir }).finally(() => rmSync(verifyDir, { recursive: true, force: true }))
      expect(verified.stdout + verified.stderr).toContain("0 mismatches")
      expect(verified.code).toBe(0)
    } finally {
      clearInterval(pace)
      if (stopped) process.kill(cassandra.pid, "SIGCONT")
    }
  }, 300_000)
})
