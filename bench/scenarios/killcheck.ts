/**
 * The kill -9 check, per persisted server: connect one sender per room, send a burst of
 * messages all at once, SIGKILL the server as soon as half of them are acked (the rest still
 * in flight), restart it on the same data (same PGlite directory, same PostgreSQL database),
 * then read every room back and check that every message acked before the kill is there. A
 * message sent but not acked may or may not be there: an ack is the promise, so only acked
 * messages count as lost when missing. Duplicates (the same body stored twice) are counted
 * too.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import postgres from "postgres"
import { adapters, type Conn } from "../client/adapters.ts"
import type { BenchConfig } from "../config.ts"
import type { BenchPostgres } from "../lib/postgres.ts"
import { planRooms } from "../lib/rooms.ts"
import { BENCH_SECRET, needsCql, pauseCql, resumeCql, startOurs, startPeer, type RunningServer, type ServerName } from "../lib/servers.ts"
import { signToken } from "../../src/auth/signToken.ts"
import { Effect } from "effect"
import type { Log } from "./stepped.ts"

export interface KillCheckRun {
  readonly server: ServerName
  readonly sent?: number
  /** Acked before the kill. */
  readonly acked?: number
  /** Acked before the kill but absent after the restart. */
  readonly missing?: number
  /** Sent, not acked, yet present after the restart (allowed). */
  readonly unackedPresent?: number
  /** Bodies stored more than once. */
  readonly duplicates?: number
  /** Restart to healthy after the kill, ms. */
  readonly restartMs?: number
  readonly passed?: boolean
  readonly error?: string
}

const ACK_WAIT_MS = 60_000

type Persisted = "ours-pglite" | "ours-postgres" | "ours-scylla" | "ours-dual" | "socketio-pg"

/** Starts (or restarts, on the same data) one server. */
const starter = async (name: Persisted, pg: BenchPostgres | undefined) => {
  const dataDir = mkdtempSync(join(tmpdir(), "chat-bench-kill-"))
  const needsPg = name === "ours-postgres" || name === "ours-dual" || name === "socketio-pg"
  if (needsPg && pg === undefined) throw new Error(`${name} needs PostgreSQL`)
  const url = needsPg ? await pg!.createDatabase(`bench_kill_${name.replace("-", "_")}`) : undefined
  // The same keyspace after the restart (startOurs would pick a new one per port).
  const env = needsCql(name) ? { CHAT_SCYLLA_KEYSPACE: `bench_kill_${Date.now().toString(36)}` } : undefined
  if (needsCql(name)) resumeCql()
  const start = (): Promise<RunningServer> =>
    name === "socketio-pg"
      ? startPeer(name, { postgresUrl: url!, pg: pg! })
      : startOurs(
          {
            store: name.slice(5) as "pglite" | "postgres" | "scylla" | "dual",
            dataDir,
            ...(url !== undefined ? { postgresUrl: url } : {}),
            ...(env !== undefined ? { env } : {})
          },
          pg
        )
  return {
    start,
    url,
    cleanup: () => {
      rmSync(dataDir, { recursive: true, force: true })
      if (needsCql(name)) pauseCql()
    }
  }
}

/** Every body stored in each room, read back through the server's REST history (ours). */
const readOurs = async (server: RunningServer, rooms: ReadonlyArray<{ room: string; user: string }>): Promise<Array<string>> => {
  const bodies: Array<string> = []
  for (const { room, user } of rooms) {
    const token = await Effect.runPromise(signToken(BENCH_SECRET, user, { expiresIn: "1h" }))
    let before: number | undefined
    for (let page = 0; page < 10_000; page++) {
      const res = await fetch(`${server.httpUrl}/v1/rooms/${room}/messages?limit=200${before !== undefined ? `&before=${before}` : ""}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(30_000)
      })
      if (res.status !== 200) throw new Error(`history of ${room}: HTTP ${res.status}`)
      const body = (await res.json()) as { messages: Array<{ seq: number; body: string }>; hasMore: boolean }
      for (const m of body.messages) bodies.push(m.body)
      if (!body.hasMore || body.messages.length === 0) break
      before = Math.min(...body.messages.map((m) => m.seq))
    }
  }
  return bodies
}

const checkOne = async (name: Persisted, cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<KillCheckRun> => {
  const { start, url, cleanup } = await starter(name, pg)
  let server: RunningServer | undefined
  const conns: Array<Conn> = []
  try {
    server = await start()
    const rooms = cfg.killcheck.rooms
    const plan = await planRooms(server, { rooms, roomSize: 1, senders: rooms, prefix: "kill" })
    const connect = await adapters[server.protocol]()
    const acked = new Set<number>()
    let errors = 0
    let resolveHalf: () => void = () => {}
    const half = new Promise<void>((resolve) => (resolveHalf = resolve))
    const total = cfg.killcheck.messages
    const hooks = {
      onDelivery: () => {},
      // The "send time" carries the message's number: this check needs identity, not latency.
      onAck: (_step: number, i: number) => {
        acked.add(i)
        if (acked.size >= total / 2) resolveHalf()
      },
      onError: () => {
        errors++
      },
      onClose: () => {}
    }
    for (const spec of plan.conns) conns.push(await connect(server.connectUrl, spec, hooks))
    const bodyOf = (i: number) => `kill:${i}:${"k".repeat(40)}`
    for (let i = 0; i < total; i++) conns[i % conns.length].send(0, bodyOf(i), i)
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ACK_WAIT_MS).unref())
    if ((await Promise.race([half, timeout])) === "timeout") throw new Error(`only ${acked.size} of ${total} acked in ${ACK_WAIT_MS} ms (${errors} errors)`)
    server.kill()
    const ackedAtKill = new Set(acked)
    await server.stop()
    for (const c of conns) c.close()
    conns.length = 0
    const t0 = performance.now()
    server = await start()
    const restartMs = Math.round(performance.now() - t0)
    const stored =
      name === "socketio-pg"
        ? await (async () => {
            const sql = postgres(url!, { max: 1, onnotice: () => {} })
            try {
              return (await sql<Array<{ body: string }>>`SELECT body FROM messages`).map((r) => r.body)
            } finally {
              await sql.end({ timeout: 5 })
            }
          })()
        : await readOurs(
            server,
            plan.conns.map((c) => ({ room: c.room, user: c.user }))
          )
    const counts = new Map<number, number>()
    for (const b of stored) {
      const m = /^kill:(\d+):/.exec(b)
      if (m) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1)
    }
    let missing = 0
    let unackedPresent = 0
    let duplicates = 0
    for (const i of ackedAtKill) if (!counts.has(i)) missing++
    for (const [i, c] of counts) {
      if (!ackedAtKill.has(i)) unackedPresent++
      if (c > 1) duplicates += c - 1
    }
    const run = { server: name, sent: total, acked: ackedAtKill.size, missing, unackedPresent, duplicates, restartMs, passed: missing === 0 && duplicates === 0 }
    log(`  ${name}: ${run.acked} acked before kill -9, ${missing} missing after restart, ${unackedPresent} unacked present, ${duplicates} duplicates -> ${run.passed ? "pass" : "FAIL"}`)
    return run
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    log(`  ${name}: kill -9 check failed to run: ${message.slice(0, 300)}`)
    return { server: name, error: message.slice(0, 2000) }
  } finally {
    for (const c of conns) c.close()
    await server?.stop()
    cleanup()
  }
}

export const runKillCheck = async (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<{ runs: ReadonlyArray<KillCheckRun> }> => {
  const runs: Array<KillCheckRun> = []
  for (const name of cfg.killcheck.servers) {
    if (!(name === "ours-pglite" || name === "ours-postgres" || name === "ours-scylla" || name === "ours-dual" || name === "socketio-pg")) {
      runs.push({ server: name, error: "not a persisted server" })
      continue
    }
    log(`[killcheck] ${name}: ${cfg.killcheck.messages} sends over ${cfg.killcheck.rooms} rooms, kill -9 at half acked`)
    runs.push(await checkOne(name, cfg, pg, log))
  }
  return { runs }
}
