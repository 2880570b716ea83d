/**
 * Saturation throughput: how many acked (committed) messages per second one node takes
 * when every sender keeps a fixed number of sends in flight, for one busy room and for
 * 100 rooms. Complements the stepped scenarios of bench/main.ts, which look for the
 * highest rate within a latency bound; this one only asks "how many per second at most".
 *
 *   node --import tsx bench/saturate.ts --store pglite|postgres [--postgres-url URL] [--seconds 10]
 *
 * Server and clients share the machine (one process here), so the figures are a floor.
 */
import { Option, Redacted } from "effect"
import { startInProcess, token } from "../tests/support/node.ts"
import { connect, type TestClient } from "../tests/support/wsClient.ts"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : fallback
}
const store = arg("store", "pglite") as "pglite" | "postgres"
const seconds = Number(arg("seconds", "10"))
const postgresUrl = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/postgres")

const run = async (label: string, rooms: number, sendersPerRoom: number, inFlight: number) => {
  const node = await startInProcess({
    store,
    ...(store === "postgres" ? { postgresUrl: Option.some(Redacted.make(postgresUrl)) } : {}),
    sendRate: 1e9,
    sendBurst: 1e9
  })
  try {
    const owner = "bench-owner"
    const t = await token(owner)
    const roomIds: string[] = []
    for (let r = 0; r < rooms; r++) {
      const res = await fetch(`${node.url}/v1/rooms`, {
        method: "POST",
        headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
        body: JSON.stringify({ kind: "group", name: `bench ${r}` })
      })
      roomIds.push((await res.json()).id)
    }
    const clients: Array<{ c: TestClient; room: string }> = []
    for (const room of roomIds) for (let s = 0; s < sendersPerRoom; s++) clients.push({ c: await connect(node.wsUrl, t), room })
    let acked = 0
    let failed = 0
    const latencies: number[] = []
    const deadline = Date.now() + seconds * 1000
    let n = 0
    await Promise.all(
      clients.flatMap(({ c, room }) =>
        Array.from({ length: inFlight }, async () => {
          while (Date.now() < deadline) {
            const started = performance.now()
            const reply = await c.request({ type: "send", room, clientMsgId: `m${++n}`, body: "x".repeat(100) }, 60_000)
            if (reply.type === "ack") {
              acked++
              latencies.push(performance.now() - started)
            } else failed++
          }
        })
      )
    )
    latencies.sort((a, b) => a - b)
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(1)
    console.log(
      `${store} ${label}: ${Math.round(acked / seconds)} acked msg/s (ack p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, ${failed} errors; ${clients.length} sockets x ${inFlight} in flight)`
    )
    for (const { c } of clients) c.close()
  } finally {
    await node.close()
  }
}

await run("1 room", 1, 10, 20)
await run("100 rooms", 100, 1, 4)
process.exit(0)
