/**
 * The stepped load shared by fan-out and persisted throughput: one server, its rooms and
 * client processes, then rates stepped up until a step fails its latency limit (or loses
 * anything). Each step sends for a fixed time, then waits (bounded) for the deliveries
 * and acks still in flight; late arrivals after that count as lost.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as delay } from "node:timers/promises"
import { readProfile, summarise, type ProfileSummary } from "../profile.ts"
import type { Stats } from "../client/messages.ts"
import { startClients } from "../lib/clients.ts"
import { Histogram, type LatencySummary } from "../lib/histogram.ts"
import { cpuMeter, cpuTicks, mb, rssBytes, rssPeakSampler } from "../lib/procstat.ts"
import { planRooms } from "../lib/rooms.ts"
import { startServer, type DatabaseHost, type RunningServer, type ServerName } from "../lib/servers.ts"

export interface LoadParams {
  readonly rooms: number
  readonly roomSize: number
  readonly senders: number
  /** Total messages per second, one step each, ascending. */
  readonly rates: ReadonlyArray<number>
  /** Which latency must stay under limitMs at p99 for a step to hold. */
  readonly limitOn: "e2e" | "ack"
  readonly limitMs: number
  readonly stepMs: number
  readonly drainMs: number
  /** A first, unrecorded step at the lowest rate (JIT, connection pools, caches). */
  readonly warmupMs: number
  readonly clientProcesses: number
  readonly bodyBytes: number
  /** Run our node under the V8 CPU profiler and keep a summary (`--profile`). */
  readonly profile?: boolean
}

export interface StepReport {
  readonly step: number
  readonly targetRate: number
  readonly sent: number
  /** Messages per second actually sent over the send window. */
  readonly sentRate: number
  readonly windowS: number
  readonly expectedDeliveries: number
  readonly received: number
  readonly lost: number
  /** lost / expected, 0..1. */
  readonly loss: number
  readonly deliveriesPerS: number
  readonly acked: number | null
  readonly ackedPerS: number | null
  /** Send to each delivery, every subscriber (the sender included). */
  readonly e2e: LatencySummary
  /** Send to ack; null for the raw ws peer, whose protocol has no acks. */
  readonly ack: LatencySummary | null
  readonly errors: Readonly<Record<string, number>>
  readonly disconnects: number
  readonly server: { readonly cpuPct: number; readonly rssPeakMB: number }
  readonly db: { readonly cpuPct: number } | null
  /** Event-loop utilisation of each client process over the step; near 1 means the client was the bottleneck. */
  readonly clients: { readonly elu: ReadonlyArray<number>; readonly eluMax: number }
  /** The client processes could not send at the target rate (their loop ran late). */
  readonly clientLimited: boolean
  readonly held: boolean
  readonly failedBecause: ReadonlyArray<string>
}

export interface ServerRun {
  readonly server: ServerName
  readonly error?: string
  readonly setup?: {
    readonly connections: number
    readonly failedConnections: number
    readonly connectMs: number
    readonly clientProcesses: number
  }
  readonly rssStartMB?: number
  /** With every connection open and subscribed, before any load. */
  readonly rssIdleMB?: number
  readonly steps: ReadonlyArray<StepReport>
  /** The highest step that held; null when none did. */
  readonly best: StepReport | null
  readonly stoppedBecause: string
  /** `--profile`: where our node's CPU time went over the whole run (all steps, the last, overloaded one included). */
  readonly profile?: ProfileSummary
}

const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits

const addErrors = (parts: ReadonlyArray<Stats>) => {
  const out: Record<string, number> = {}
  for (const p of parts) for (const [k, v] of Object.entries(p.errors)) out[k] = (out[k] ?? 0) + v
  return out
}

export type Log = (line: string) => void

/** Longest wait for the warm-up step's messages before the measured steps begin. */
const WARMUP_DRAIN_MS = 30_000

/** Runs the steps on one server; with `params.profile`, our node runs under the CPU profiler and the run carries its summary. */
export const runOnServer = async (
  name: ServerName,
  label: string,
  params: LoadParams,
  pg: DatabaseHost | undefined,
  log: Log
): Promise<ServerRun> => {
  const profileDir = params.profile && name.startsWith("ours") ? mkdtempSync(join(tmpdir(), "chat-bench-prof-")) : undefined
  const run = await runSteps(name, label, params, pg, log, profileDir)
  if (profileDir === undefined) return run
  try {
    const file = readdirSync(profileDir).find((f) => f.endsWith(".cpuprofile"))
    return file === undefined ? run : { ...run, profile: summarise(readProfile(join(profileDir, file)), 15) }
  } finally {
    rmSync(profileDir, { recursive: true, force: true })
  }
}

const runSteps = async (
  name: ServerName,
  label: string,
  params: LoadParams,
  pg: DatabaseHost | undefined,
  log: Log,
  profileDir: string | undefined
): Promise<ServerRun> => {
  let server: RunningServer | undefined
  const steps: Array<StepReport> = []
  try {
    server = await startServer(name, label, pg, { profileDir })
    const running = server
    const rssStart = rssBytes(server.pid)
    const plan = await planRooms(server, { rooms: params.rooms, roomSize: params.roomSize, senders: params.senders, prefix: `${label}` })
    const pool = await startClients({
      processes: params.clientProcesses,
      protocol: server.protocol,
      url: server.connectUrl,
      conns: plan.conns,
      bodyBytes: params.bodyBytes
    })
    const setup = {
      connections: sum(pool.ready.map((r) => r.connected)),
      failedConnections: sum(pool.ready.map((r) => r.failed)),
      connectMs: Math.max(...pool.ready.map((r) => r.connectMs)),
      clientProcesses: pool.size
    }
    try {
      if (setup.failedConnections > 0) {
        const why = pool.ready.find((r) => r.firstError !== undefined)?.firstError
        throw new Error(`${setup.failedConnections} connections failed: ${why}`)
      }
      const rssIdle = rssBytes(server.pid)
      const hasAcks = server.protocol !== "rawws"

      const runStep = async (step: number, rate: number, durationMs: number, drainMs: number): Promise<StepReport> => {
        const perSender = rate / params.senders
        const cpu = cpuMeter(() => cpuTicks(running.pid))
        const db = running.dbCpuTicks !== undefined ? cpuMeter(running.dbCpuTicks) : undefined
        const rss = rssPeakSampler(running.pid)
        const sent = await pool.step(step, perSender, durationMs, Math.ceil((perSender * durationMs) / 1000) + 1)
        const totalSent = sum(sent.map((s) => s.sent))
        let expected = 0
        for (const s of sent) for (const [room, n] of Object.entries(s.sentByRoom)) expected += n * (plan.subscribers.get(room) ?? 0)
        // Bounded wait for what is still in flight.
        const deadline = performance.now() + drainMs
        while (performance.now() < deadline) {
          const parts = await pool.collect(step, false)
          const received = sum(parts.map((p) => p.received))
          const answered = sum(parts.map((p) => p.acks + sum(Object.values(p.errors))))
          if (received >= expected && (!hasAcks || answered >= totalSent)) break
          await delay(50)
        }
        const parts = await pool.collect(step, true)
        const cpuPct = cpu.stop()
        const dbPct = db?.stop()
        const rssPeak = rss.stop()
        const windowS = Math.max(...sent.map((s) => s.windowMs)) / 1000
        const received = sum(parts.map((p) => p.received))
        const acked = sum(parts.map((p) => p.acks))
        const e2e = Histogram.from(parts.map((p) => p.e2e)).summary()
        const ack = hasAcks ? Histogram.from(parts.map((p) => p.ack)).summary() : null
        const errors = addErrors(parts)
        const disconnects = sum(parts.map((p) => p.disconnects))
        const elu = parts.map((p) => p.elu)
        const lost = Math.max(0, expected - received)
        const clientLimited = windowS * 1000 > durationMs * 1.1 + 50
        const limited = params.limitOn === "ack" ? ack : e2e
        const failedBecause = [
          ...(lost > 0 ? [`lost ${lost} of ${expected} deliveries`] : []),
          ...(sum(Object.values(errors)) > 0 ? [`errors ${JSON.stringify(errors)}`] : []),
          ...(hasAcks && acked < totalSent ? [`${totalSent - acked} sends not acked`] : []),
          ...(disconnects > 0 ? [`${disconnects} connections closed by the server`] : []),
          ...(limited !== null && limited.p99 > params.limitMs ? [`p99 ${params.limitOn} ${limited.p99} ms > ${params.limitMs} ms`] : []),
          ...(clientLimited ? ["client processes could not keep the send rate"] : [])
        ]
        return {
          step,
          targetRate: rate,
          sent: totalSent,
          sentRate: round(totalSent / windowS),
          windowS: round(windowS, 3),
          expectedDeliveries: expected,
          received,
          lost,
          loss: expected === 0 ? 0 : round(lost / expected, 6),
          deliveriesPerS: round(received / windowS),
          acked: hasAcks ? acked : null,
          ackedPerS: hasAcks ? round(acked / windowS) : null,
          e2e,
          ack,
          errors,
          disconnects,
          server: { cpuPct, rssPeakMB: mb(rssPeak) },
          db: dbPct === undefined ? null : { cpuPct: dbPct },
          clients: { elu, eluMax: Math.max(...elu) },
          clientLimited,
          held: failedBecause.length === 0,
          failedBecause
        }
      }

      if (params.warmupMs > 0 && params.rates.length > 0) {
        // Every sender sends at least once (each room's first message pays for starting its
        // actor and creating its encryption key), and the warm-up is let finish before step 1.
        const rate = Math.max(params.rates[0], Math.ceil((params.senders * 1000) / params.warmupMs))
        await runStep(0, rate, params.warmupMs, WARMUP_DRAIN_MS)
      }
      let stoppedBecause = "all steps held"
      for (const [i, rate] of params.rates.entries()) {
        const report = await runStep(i + 1, rate, params.stepMs, params.drainMs)
        steps.push(report)
        const lat = params.limitOn === "ack" ? report.ack : report.e2e
        log(
          `  ${name} ${rate} msg/s: ${report.deliveriesPerS} deliveries/s, p99 ${params.limitOn} ${lat?.p99} ms, ` +
            `loss ${report.lost}, cpu ${report.server.cpuPct}%${report.db ? ` db ${report.db.cpuPct}%` : ""}, ` +
            `client elu ${report.clients.elu.join("/")}${report.held ? "" : ` -> stop: ${report.failedBecause.join("; ")}`}`
        )
        if (!report.held) {
          stoppedBecause = report.failedBecause.join("; ")
          break
        }
      }
      const held = steps.filter((s) => s.held)
      return {
        server: name,
        setup,
        rssStartMB: mb(rssStart),
        rssIdleMB: mb(rssIdle),
        steps,
        best: held.length > 0 ? held[held.length - 1] : null,
        stoppedBecause
      }
    } finally {
      await pool.close()
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    log(`  ${name}: failed: ${message.slice(0, 500)}`)
    const held = steps.filter((s) => s.held)
    return { server: name, error: message.slice(0, 2000), steps, best: held.length > 0 ? held[held.length - 1] : null, stoppedBecause: "error" }
  } finally {
    await server?.stop()
  }
}
