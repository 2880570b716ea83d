/**
 * The dashboard and the rules against a real Prometheus (Debian's `prometheus`, which .ci/run
 * installs) scraping a real node (child process: PostgreSQL, NATS, Redis) under a little load.
 * Every dashboard query and every rule expression runs through Prometheus's HTTP API: none may
 * fail, every series one names must be one the node exports, and the original system's panels
 * must return data.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { parse } from "yaml"
import { dropDatabase, freshDatabase } from "../support/freshDatabase.ts"
import { startNats, type RunningNats } from "../support/nats.ts"
import { startChild, type TestNode } from "../support/node.ts"
import { freePort, requireBinary, spawnServer, type ServerProcess } from "../support/serverProcess.ts"
import { connect, type TestClient } from "../support/wsClient.ts"

const root = new URL("../../", import.meta.url).pathname
const PROMETHEUS = process.env.CHAT_TEST_PROMETHEUS ?? "/usr/bin/prometheus"

interface Panel {
  readonly title: string
  readonly type: string
  readonly targets?: ReadonlyArray<{ readonly expr: string }>
}
const dashboard = JSON.parse(readFileSync(`${root}ops/grafana/dashboards/chat.json`, "utf8")) as { panels: Array<Panel> }
const panels = dashboard.panels.filter((p) => p.type !== "row")
const ruleExprs: ReadonlyArray<{ name: string; expr: string }> = (
  parse(readFileSync(`${root}ops/prometheus/rules.yml`, "utf8")) as {
    groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>
  }
).groups.flatMap((g) => g.rules.map((r) => ({ name: r.alert ?? r.record ?? "?", expr: r.expr })))

/** Panels that must return data from one clustered node under load (the first three are the original system's). */
const MUST_HAVE_DATA = [
  "Messages sent per second by room type and database",
  "Query p99 by operation and database",
  "Active connections",
  "Shards held per node",
  "Live nodes (as each node sees them)",
  "Dependency up",
  "HTTP requests per second by route and status",
  "Heap used and resident memory",
  "Event-loop delay (max per scrape)"
]

// Grafana fills $__rate_interval in; at a 1 s scrape interval, 15 s holds enough samples.
const RATE_INTERVAL = "15s"

let nats: RunningNats
let dbUrl: string
let node: TestNode
let prometheus: ServerProcess
let promUrl: string
let promDir: string
let exported: Map<string, string>
const clients: Array<TestClient> = []

const query = async (expr: string) => {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)
  return (await res.json()) as { status: string; error?: string; data?: { result: Array<unknown> } }
}

/** Polls Prometheus (no event tells when a scrape happened) until `expr` returns a sample, within a bound. */
const awaitData = async (expr: string, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = await query(expr)
    if (r.status === "success" && (r.data?.result.length ?? 0) > 0) return
    if (Date.now() > deadline) throw new Error(`Prometheus had no data for ${expr} within ${timeoutMs} ms: ${JSON.stringify(r)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** Series names an expression reads; histogram suffixes map to their family. */
const seriesOf = (expr: string): Array<string> =>
  [...new Set([...expr.matchAll(/\bchat_[a-z0-9_]+\b/g)].map((m) => m[0]))].map((name) => {
    const family = name.replace(/_(bucket|sum|count)$/, "")
    return exported.get(family) === "histogram" ? family : name
  })

beforeAll(async () => {
  requireBinary(PROMETHEUS, "prometheus", "CHAT_TEST_PROMETHEUS")
  nats = await startNats()
  dbUrl = await freshDatabase()
  node = await startChild({
    CHAT_NODE_ID: "prom-node",
    CHAT_STORE: "postgres",
    CHAT_POSTGRES_URL: dbUrl,
    CHAT_NATS_URL: nats.url,
    CHAT_REDIS_URL: inject("redisUrl"),
    CHAT_SHARDS: "8",
    CHAT_LEASE_MS: "3000"
  })
  const target = new URL(node.url).host
  promDir = mkdtempSync(join(tmpdir(), "chat-test-prometheus-"))
  writeFileSync(
    join(promDir, "prometheus.yml"),
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      `rule_files: ["${root}ops/prometheus/rules.yml"]`,
      "scrape_configs:",
      "  - job_name: chat",
      `    static_configs: [{ targets: ["${target}"] }]`,
      ""
    ].join("\n")
  )
  const port = await freePort()
  promUrl = `http://127.0.0.1:${port}`
  const started = await spawnServer(
    PROMETHEUS,
    [
      `--config.file=${join(promDir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(promDir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`
    ],
    { name: "prometheus", ready: /Server is ready to receive web requests/, timeoutMs: 60_000 }
  )
  prometheus = started.process

  // A little load: two users in a group room and a direct room, sending over WebSockets and REST.
  const [alice, bob] = await Promise.all([node.token("alice"), node.token("bob")])
  const post = (token: string, path: string, body: object) =>
    fetch(`${node.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then((r) => r.json() as Promise<{ id: string }>)
  const group = await post(alice, "/v1/rooms", { kind: "group", name: "ops", members: ["bob"] })
  const direct = await post(alice, "/v1/rooms", { kind: "direct", with: "bob" })
  clients.push(await connect(node.wsUrl, alice), await connect(node.wsUrl, bob))
  for (let i = 0; i < 20; i++) {
    await clients[i % 2].request({ type: "send", room: i % 3 === 0 ? direct.id : group.id, clientMsgId: `m${i}`, body: `load ${i}` })
    await fetch(`${node.url}/v1/rooms`, { headers: { authorization: `Bearer ${alice}` } })
  }
  await post(bob, `/v1/rooms/${group.id}/messages`, { body: "over REST", clientMsgId: "rest-1" })

  const text = await (await fetch(`${node.url}/metrics`)).text()
  exported = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
  // Three scrapes since the load, so every rate() over RATE_INTERVAL has samples to work with.
  await awaitData(`count_over_time(chat_messages_sent_total[${RATE_INTERVAL}]) >= 3`)
  await awaitData(`count_over_time(chat_cluster_shards_held[1m]) >= 3`)
}, 180_000)

afterAll(async () => {
  for (const c of clients) c.close()
  await prometheus?.kill("SIGTERM")
  await node?.close()
  await nats?.stop()
  if (dbUrl) await dropDatabase(dbUrl)
  if (promDir) rmSync(promDir, { recursive: true, force: true })
})

describe("prometheus live", () => {
  it("prometheus live - the scrape of the node is healthy", async () => {
    const r = await query('up{job="chat"}')
    expect(r.status).toBe("success")
    expect((r.data!.result[0] as { value: [number, string] }).value[1]).toBe("1")
  })

  it("prometheus live - every dashboard query runs and names only series the node exports", async () => {
    expect(panels.length).toBeGreaterThan(20)
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const names = seriesOf(target.expr)
        expect(names.length, `${panel.title}: names no chat_ series`).toBeGreaterThan(0)
        for (const name of names) expect(exported.has(name), `${panel.title}: ${name} is not exported`).toBe(true)
        const r = await query(target.expr.replaceAll("$__rate_interval", RATE_INTERVAL))
        expect(r.status, `${panel.title}: ${r.error}`).toBe("success")
      }
    }
  })

  it("prometheus live - the original panels and the node's own panels return data", async () => {
    for (const title of MUST_HAVE_DATA) {
      const panel = panels.find((p) => p.title === title)
      expect(panel, title).toBeDefined()
      const results = await Promise.all(
        (panel!.targets ?? []).map((t) => query(t.expr.replaceAll("$__rate_interval", RATE_INTERVAL)))
      )
      expect(results.some((r) => (r.data?.result.length ?? 0) > 0), `${title} returned no data`).toBe(true)
    }
    // The original labels, with the original values.
    const sent = await query(`sum by (room_type, database) (chat_messages_sent_total)`)
    const labels = sent.data!.result.map((s) => (s as { metric: Record<string, string> }).metric)
    expect(labels).toContainEqual({ room_type: "group", database: "postgres" })
    expect(labels).toContainEqual({ room_type: "direct", database: "postgres" })
    const p99 = await query(`histogram_quantile(0.99, sum by (le) (rate(chat_query_duration_seconds_bucket{operation="save_message",database="postgres"}[1m])))`)
    expect(p99.data!.result.length).toBe(1)
    const ws = await query(`chat_active_connections{client_type="websocket"}`)
    expect((ws.data!.result[0] as { value: [number, string] }).value[1]).toBe("2")
  })

  it("prometheus live - every rule expression runs and names only exported series; the rules load", async () => {
    for (const rule of ruleExprs) {
      for (const name of seriesOf(rule.expr)) expect(exported.has(name), `${rule.name}: ${name} is not exported`).toBe(true)
      const r = await query(rule.expr)
      expect(r.status, `${rule.name}: ${r.error}`).toBe("success")
    }
    const loaded = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }
    }
    const rules = loaded.data.groups.flatMap((g) => g.rules)
    expect(rules.length).toBe(ruleExprs.length)
    for (const r of rules) expect(r.health, `${r.name}: ${r.lastError}`).not.toBe("err")
  })
})
