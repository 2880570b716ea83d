/**
 * What one request/response round trip costs this process in CPU on this machine: over a bare
 * TCP socket to an echo server in a child process, and through postgres.js to PostgreSQL
 * (`SELECT 1`, a prepared one-parameter query, three pipelined). The floor under every
 * database round trip of a commit, and under every WebSocket frame.
 *
 *   node --import tsx bench/roundtrip.ts [--postgres-url postgres://postgres@127.0.0.1:5432/postgres] [--n 3000]
 */
import { fork } from "node:child_process"
import net from "node:net"
import postgres from "postgres"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
const n = Number(arg("n", "3000"))
const url = arg("postgres-url", "postgres://postgres@127.0.0.1:5432/postgres")

const report = (what: string, cpu: NodeJS.CpuUsage, wallMs: number) =>
  console.log(
    `${what.padEnd(28)} ${((cpu.user + cpu.system) / n).toFixed(0).padStart(4)} µs CPU per round trip ` +
      `(user ${(cpu.user / n).toFixed(0)}, system ${(cpu.system / n).toFixed(0)}), wall ${((wallMs * 1000) / n).toFixed(0)} µs`
  )

const timed = async (what: string, once: () => Promise<unknown>) => {
  for (let i = 0; i < 200; i++) await once()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await once()
  report(what, process.cpuUsage(c0), performance.now() - t0)
}

const echo = async () => {
  if (process.argv.includes("--echo-server")) return
  const child = fork(new URL(import.meta.url).pathname, ["--echo-server"], { execArgv: ["--import", "tsx"], stdio: "inherit" })
  const port = await new Promise<number>((resolve) => child.once("message", (m) => resolve(Number(m))))
  const socket = net.connect(port, "127.0.0.1")
  await new Promise((resolve) => socket.once("connect", resolve))
  socket.setNoDelay(true)
  const payload = Buffer.alloc(100, 1)
  await timed("tcp echo, 100 bytes", () => new Promise((resolve) => {
    socket.once("data", resolve)
    socket.write(payload)
  }))
  socket.destroy()
  child.kill()
}

if (process.argv.includes("--echo-server")) {
  const server = net.createServer((s) => {
    s.setNoDelay(true)
    s.on("data", (d) => s.write(d))
  })
  server.listen(0, "127.0.0.1", () => process.send!((server.address() as net.AddressInfo).port))
} else {
  await echo()
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  await timed("postgres.js SELECT 1", () => sql.unsafe("SELECT 1"))
  let i = 0
  await timed("postgres.js prepared", () => sql.unsafe("SELECT $1::int AS x", [++i], { prepare: true }))
  await timed("postgres.js 3 pipelined", () =>
    Promise.all([1, 2, 3].map((k) => sql.unsafe("SELECT $1::int AS x", [k], { prepare: true }).execute()))
  )
  await sql.end({ timeout: 5 })
}
