/**
 * The stepped load shared by fan-out, persisted throughput, the fixed-rate table and the
 * Zipf scenario: one server, its rooms and client processes, then rates stepped up until a
 * step fails its latency limit (or loses anything), then a bisection between the last step
 * that held and the one that failed, in longer steps (`fineStepMs`). Each step sends for a
 * fixed time, then waits (bounded) for the deliveries and acks still in flight; late
 * arrivals after that count as lost. `search: false` (the fixed-rate table) runs every rate
 * whatever happens.
 *
 * Per step, besides the latencies (from each message's scheduled send time): how late the
 * client processes sent and their CPU from /proc, which mark a step client-limited; the
 * whole machine's CPU, steal and pressure (lib/machineLoad.ts) and the CPU used by processes
 * outside the run, which mark a step invalid (`machineBusy`) when something else was
 * running; the server's (and its database's) CPU per message.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as delay } from "node:timers/promises"
import { readProfile, summarise, type ProfileSummary } from "../profile.ts"
import type { Stats } from "../client/messages.ts"
import { startClients } from "../lib/clients.ts"
import { Histogram, type LatencySummary } from "../lib/histogram.ts"
import { machineLoadWindow, type MachineLoad } from "../lib/machineLoad.ts"
import { stoppedByDiskStall } from "../report/aggregate.ts"
import { CLK_TCK, cpuMeter, cpuTicks, mb, rssBytes, rssPeakSampler } from "../lib/procstat.ts"
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
  /**
   * The senders get a client process of their own, beside the clientProcesses that hold the
   * other connections (fan-out: a sender's schedule must not wait behind a burst of
   * deliveries to a thousand other sockets of its process).
   */
  readonly senderProcess?: boolean
  readonly bodyBytes: number
  /** Run our node under the V8 CPU profiler and keep a summary (`--profile`). */
  readonly profile?: boolean
  /** false: run every rate whatever happens, no bisection (the fixed-rate table). Default true. */
  readonly search?: boolean
  /** Bisection steps after the first failure (0: none). */
  readonly bisect?: number
  /** Length of a bisection step (30 s in the full run). */
  readonly fineStepMs?: number
  /** A step is client-limited when p99 send lateness exceeds this. */
  readonly lateP99Ms?: number
  /** ... or when a client process used more than this share of one core (percent). */
  readonly clientCpuPct?: number
  /** A step is invalid when processes outside the run used more than this share of all CPUs (percent) ... */
  readonly outsidePct?: number
  /** ... or steal exceeded this (percent of all CPUs). */
  readonly stealPct?: number
  /** Per-sender rate weights by room (the Zipf scenario). */
  readonly weightOfRoom?: (room: number) => number
  /** The reconnect storm: in step `step` (1-based), `atMs` after it starts, every non-sender drops and resumes after `dropMs`. */
  readonly storm?: { readonly step: number; readonly atMs: number; readonly dropMs: number }
  /** History reads while the writes run: REST pages of 50 from random rooms, this many per second (our servers). */
  readonly historyReadsPerS?: number
  /** First step (1-based) with history reads; 1 when absent. */
  readonly historyReadsFromStep?: number
}

/** Defaults of the trust thresholds (bench/README.md explains them). */
export const TRUST_DEFAULTS = { lateP99Ms: 10, clientCpuPct: 85, outsidePct: 15, stealPct: 5 } as const

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
  /** Deliveries a connection already had (same sender and number). */
  readonly duplicates?: number
  /** Deliveries that came after a later message of the same sender on the same connection. */
  readonly reordered?: number
  /** A bisection step (after the coarse steps), with its length. */
  readonly fine?: boolean
  /** Failed client-limited or on a busy machine, and was run once more (the next step at this rate counts). */
  readonly retried?: boolean
  readonly server: {
    readonly cpuPct: number
    readonly rssPeakMB: number
    /** Server CPU per acked message (sent, without acks), µs. */
    readonly usPerMsg?: number | null
  }
  readonly db: { readonly cpuPct: number; readonly usPerMsg?: number | null } | null
  /** Event-loop utilisation and CPU (percent of one core, /proc) of each client process over the step. */
  readonly clients: {
    readonly elu: ReadonlyArray<number>
    readonly eluMax: number
    readonly cpuPct?: ReadonlyArray<number>
    /** How late sends ran behind their schedule. */
    readonly lateness?: LatencySummary
  }
  /** The client processes could not keep the schedule (p99 lateness or CPU over the threshold). */
  readonly clientLimited: boolean
  /** Whole machine over the step (lib/machineLoad.ts). */
  readonly machine?: MachineLoad
  /** Something outside the run used the machine: the step's figures are not to be trusted. */
  readonly machineBusy?: boolean
  /**
   * The disk stalled: a flush of the orchestrator's probe (lib/diskProbe.ts) took longer than
   * the step's latency limit. A persisted server's acks wait on such flushes; a failing step
   * is run once more, as on a busy machine, and a run with such a failed step is left out
   * of medians and ratios (report/aggregate.ts stoppedByDiskStall).
   */
  readonly diskStalled?: boolean
  /** The reconnect storm of this step. */
  readonly storm?: {
    readonly stormers: number
    readonly failed: number
    readonly firstError?: string
    /** Connect to subscribed per resumed connection. */
    readonly reconnect: LatencySummary
    /** Drop to the last connection subscribed again, ms (longest over the client processes). */
    readonly wallMs: number
  }
  /** History pages read during the step (REST). */
  readonly history?: { readonly reads: number; readonly errors: number; readonly latency: LatencySummary }
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
  /** Which repeat of this server this run is (1-based; repeats are interleaved across servers). */
  readonly repeat?: number
  /**
   * The run's limit is the server's own: it stopped on a step that was neither client-limited
   * nor taken while the machine was busy, and its best step was not taken while busy either.
   * Only trusted runs enter medians and ratios.
   */
  readonly trusted?: boolean
  readonly untrustedBecause?: string
  /** `--profile`: where our node's CPU time went over the whole run (all steps, the last, overloaded one included). */
  readonly profile?: ProfileSummary
}

const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits

/**
 * REST history reads at a fixed rate for the length of a step (open loop, at most 16 in
 * flight): a page of 50 from a random room, as the room's member. Latency from each read's
 * scheduled time.
 */
const readHistory = async (
  httpUrl: string,
  members: ReadonlyArray<{ readonly room: string; readonly token?: string }>,
  perSecond: number,
  durationMs: number
): Promise<{ reads: number; errors: number; latency: LatencySummary }> => {
  const h = new Histogram()
  let errors = 0
  let inFlight = 0
  const total = Math.floor((perSecond * durationMs) / 1000)
  const t0 = performance.now()
  const reads: Array<Promise<void>> = []
  for (let k = 0; k < total; k++) {
    const at = (k * 1000) / perSecond
    const wait = at - (performance.now() - t0)
    if (wait > 0) await delay(wait)
    if (inFlight >= 16) {
      errors++
      continue
    }
    const m = members[Math.floor(Math.random() * members.length)]
    inFlight++
    reads.push(
      fetch(`${httpUrl}/v1/rooms/${m.room}/messages?limit=50`, { headers: { authorization: `Bearer ${m.token}` }, signal: AbortSignal.timeout(30_000) })
        .then(async (res) => {
          await res.arrayBuffer()
          if (res.status !== 200) errors++
          else h.record((performance.now() - t0 - at) * 1000)
        })
        .catch(() => {
          errors++
        })
        .finally(() => {
          inFlight--
        })
    )
  }
  await Promise.all(reads)
  return { reads: h.count, errors, latency: h.summary() }
}

/** The trust thresholds a caller set (undefined ones keep their defaults). */
const definedOnly = (p: LoadParams) =>
  Object.fromEntries(
    (["lateP99Ms", "clientCpuPct", "outsidePct", "stealPct"] as const).filter((k) => p[k] !== undefined).map((k) => [k, p[k]!])
  ) as Partial<typeof TRUST_DEFAULTS>

const addErrors = (parts: ReadonlyArray<Stats>) => {
  const out: Record<string, number> = {}
  for (const p of parts) for (const [k, v] of Object.entries(p.errors)) out[k] = (out[k] ?? 0) + v
  return out
}

export type Log = (line: string) => void

/** Longest wait for the warm-up step's messages before the measured steps begin. */
const WARMUP_DRAIN_MS = 30_000

/**
 * The unrecorded step before the first measured one, or none: at the lowest rate, raised so
 * that every sender sends at least once (each room's first message pays for starting its
 * actor and creating its encryption key), and let finish before step 1.
 */
export const warmupOf = (
  params: Pick<LoadParams, "warmupMs" | "rates" | "senders">
): { readonly rate: number; readonly ms: number } | undefined => {
  if (params.warmupMs <= 0 || params.rates.length === 0) return undefined
  return { rate: Math.max(params.rates[0]!, Math.ceil((params.senders * 1000) / params.warmupMs)), ms: params.warmupMs }
}

/** What the search reads of a step's report. */
export interface SearchStep {
  readonly targetRate: number
  readonly held: boolean
  readonly clientLimited: boolean
}

/**
 * The search for a server's limit: the coarse rates in order until one fails, then up to
 * `bisect` finer steps between the highest rate that held and the lowest that failed. With
 * `bisect` undefined (no search) every coarse rate is run. Answers the failed step that bounds
 * the run, or undefined when every step held.
 *
 * A step that failed while client-limited says nothing of the server: the search goes on below
 * it, and it bounds the run only when no step failed for the server's own reasons. So a coarse
 * failure that was client-limited still gets its bisection (the lower rates load the machine
 * less), and a client-limited bisection step leaves the bound where the last trusted failure put it.
 */
export const searchLimit = async <S extends SearchStep>(
  coarse: ReadonlyArray<number>,
  bisect: number | undefined,
  measure: (id: number, rate: number, fine: boolean) => Promise<S>
): Promise<S | undefined> => {
  let lo = 0
  let bound: S | undefined
  for (const [i, rate] of coarse.entries()) {
    const report = await measure(i + 1, rate, false)
    if (report.held) lo = Math.max(lo, rate)
    else if (bisect !== undefined) {
      bound = report
      break
    }
  }
  if (bound === undefined || bisect === undefined) return bound
  let hi = bound.targetRate
  for (let k = 0; k < bisect && lo > 0 && (hi - lo) / hi > 0.05; k++) {
    const mid = Math.round((lo + hi) / 2)
    const report = await measure(coarse.length + k + 1, mid, true)
    if (report.held) lo = mid
    else {
      hi = mid
      if (!report.clientLimited || bound.clientLimited) bound = report
    }
  }
  return bound
}

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
    const plan = await planRooms(server, {
      rooms: params.rooms,
      roomSize: params.roomSize,
      senders: params.senders,
      prefix: `${label}`,
      ...(params.weightOfRoom !== undefined ? { weightOfRoom: params.weightOfRoom } : {}),
      ...(params.storm !== undefined ? { stormers: true } : {})
    })
    const pool = await startClients({
      processes: params.clientProcesses,
      protocol: server.protocol,
      url: server.connectUrl,
      conns: plan.conns,
      bodyBytes: params.bodyBytes,
      ...(params.senderProcess === true ? { senderProcess: true } : {})
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

      const trust = { ...TRUST_DEFAULTS, ...definedOnly(params) }
      const clientTicks = () => sum(pool.pids.map(cpuTicks))
      const serverTicks = () => cpuTicks(running.pid) + sum((running.extraPids ?? []).map(cpuTicks))
      const runTicks = () => serverTicks() + (running.dbCpuTicks?.() ?? 0) + clientTicks() + cpuTicks(process.pid)
      const ourRooms = plan.conns.filter((c) => c.token !== undefined)
      const runStep = async (step: number, rate: number, durationMs: number, drainMs: number): Promise<StepReport> => {
        const perSender = rate / params.senders
        const machine = machineLoadWindow()
        const run0 = runTicks()
        const server0 = serverTicks()
        const db0 = running.dbCpuTicks?.() ?? 0
        const clients = pool.pids.map((pid) => cpuMeter(() => cpuTicks(pid)))
        const cpu = cpuMeter(serverTicks)
        const db = running.dbCpuTicks !== undefined ? cpuMeter(running.dbCpuTicks) : undefined
        const rss = rssPeakSampler(running.pid)
        const stormRun =
          params.storm !== undefined && params.storm.step === step
            ? delay(params.storm.atMs).then(() => pool.storm(params.storm!.dropMs))
            : undefined
        const reads =
          params.historyReadsPerS !== undefined && params.historyReadsPerS > 0 && ourRooms.length > 0 && step >= (params.historyReadsFromStep ?? 1)
            ? readHistory(running.httpUrl, ourRooms, params.historyReadsPerS, durationMs)
            : undefined
        const sent = await pool.step(step, perSender, durationMs, Math.ceil((perSender * durationMs) / 1000) + 1)
        const stormed = await stormRun
        const historyStats = await reads
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
        const clientCpu = clients.map((c) => c.stop())
        const serverUs = ((serverTicks() - server0) / CLK_TCK) * 1e6
        const dbUs = running.dbCpuTicks !== undefined ? ((running.dbCpuTicks() - db0) / CLK_TCK) * 1e6 : undefined
        const load = machine.end(runTicks() - run0)
        const rssPeak = rss.stop()
        const windowS = Math.max(...sent.map((s) => s.windowMs)) / 1000
        const received = sum(parts.map((p) => p.received))
        const acked = sum(parts.map((p) => p.acks))
        const e2e = Histogram.from(parts.map((p) => p.e2e)).summary()
        const ack = hasAcks ? Histogram.from(parts.map((p) => p.ack)).summary() : null
        const errors = addErrors(parts)
        const disconnects = sum(parts.map((p) => p.disconnects))
        const elu = parts.map((p) => p.elu)
        const lateness = Histogram.from(parts.map((p) => p.lateness)).summary()
        const duplicates = sum(parts.map((p) => p.duplicates))
        const reordered = sum(parts.map((p) => p.reordered))
        const lost = Math.max(0, expected - received)
        const clientLimited =
          windowS * 1000 > durationMs * 1.1 + 50 || lateness.p99 > trust.lateP99Ms || clientCpu.some((c) => c > trust.clientCpuPct)
        const machineBusy = (load.outsidePct ?? 0) > trust.outsidePct || load.stealPct > trust.stealPct
        const diskStalled = (load.diskSync?.maxMs ?? 0) > params.limitMs
        const perMsg = hasAcks ? acked : totalSent
        const usPer = (us: number | undefined) => (us === undefined || perMsg === 0 ? null : round(us / perMsg, 1))
        const limited = params.limitOn === "ack" ? ack : e2e
        const failedBecause = [
          ...(lost > 0 ? [`lost ${lost} of ${expected} deliveries`] : []),
          ...(sum(Object.values(errors)) > 0 ? [`errors ${JSON.stringify(errors)}`] : []),
          ...(hasAcks && acked < totalSent ? [`${totalSent - acked} sends not acked`] : []),
          ...(disconnects > 0 ? [`${disconnects} connections closed by the server`] : []),
          ...(duplicates > 0 ? [`${duplicates} duplicate deliveries`] : []),
          ...(limited !== null && limited.p99 > params.limitMs ? [`p99 ${params.limitOn} ${limited.p99} ms > ${params.limitMs} ms`] : []),
          ...(clientLimited
            ? [`client-limited (send lateness p99 ${lateness.p99} ms, client CPU ${clientCpu.join("/")} % of a core)`]
            : [])
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
          duplicates,
          reordered,
          ...(durationMs !== params.stepMs ? { fine: true } : {}),
          server: { cpuPct, rssPeakMB: mb(rssPeak), usPerMsg: usPer(serverUs) },
          db: dbPct === undefined ? null : { cpuPct: dbPct, usPerMsg: usPer(dbUs) },
          clients: { elu, eluMax: Math.max(...elu), cpuPct: clientCpu, lateness },
          clientLimited,
          machine: load,
          machineBusy,
          ...(diskStalled ? { diskStalled } : {}),
          ...(stormed !== undefined
            ? {
                storm: {
                  stormers: sum(stormed.map((x) => x.stormers)),
                  failed: sum(stormed.map((x) => x.failed)),
                  ...(stormed.find((x) => x.firstError !== undefined) !== undefined ? { firstError: stormed.find((x) => x.firstError !== undefined)!.firstError! } : {}),
                  reconnect: Histogram.from(stormed.map((x) => x.reconnect)).summary(),
                  wallMs: Math.max(...stormed.map((x) => x.wallMs))
                }
              }
            : {}),
          ...(historyStats !== undefined ? { history: historyStats } : {}),
          held: failedBecause.length === 0,
          failedBecause
        }
      }

      const warmup = warmupOf(params)
      if (warmup !== undefined) await runStep(0, warmup.rate, warmup.ms, WARMUP_DRAIN_MS)
      const describe = (report: StepReport) => {
        const lat = params.limitOn === "ack" ? report.ack : report.e2e
        log(
          `  ${name} ${report.targetRate} msg/s${report.fine ? " (fine)" : ""}: ${report.deliveriesPerS} deliveries/s, p99 ${params.limitOn} ${lat?.p99} ms, ` +
            `loss ${report.lost}, cpu ${report.server.cpuPct}%${report.db ? ` db ${report.db.cpuPct}%` : ""} (${report.server.usPerMsg ?? "-"} µs/msg), ` +
            `client cpu ${report.clients.cpuPct?.join("/")}% late p99 ${report.clients.lateness?.p99} ms, ` +
            `machine busy ${report.machine?.busyPct}% outside ${report.machine?.outsidePct}% psi ${report.machine?.pressurePct}%` +
            (report.machine?.diskSync !== undefined ? ` fsync max ${report.machine.diskSync.maxMs} ms` : "") +
            (report.storm !== undefined
              ? `, storm: ${report.storm.stormers - report.storm.failed}/${report.storm.stormers} resumed, reconnect p99 ${report.storm.reconnect.p99} ms, all in ${report.storm.wallMs} ms, dup ${report.duplicates} reordered ${report.reordered}`
              : "") +
            (report.history !== undefined ? `, history ${report.history.reads} reads p99 ${report.history.latency.p99} ms (${report.history.errors} shed/failed)` : "") +
            `${report.machineBusy ? " [BUSY]" : ""}${report.diskStalled === true ? " [DISK STALL]" : ""}${report.held ? "" : ` -> ${params.search === false ? "failed" : "stop"}: ${report.failedBecause.join("; ")}`}`
        )
      }
      // One step per run that fails while client-limited, on a busy machine or while the disk
      // stalled is run again at the same rate (a transient, e.g. another engineer's build or the
      // host's disk, should not end the search); the first attempt stays in the report, marked
      // `retried`.
      let retriesLeft = params.search === false ? 0 : 1
      const measure = async (id: number, rate: number, ms: number): Promise<StepReport> => {
        let report = await runStep(id, rate, ms, params.drainMs)
        if (!report.held && (report.clientLimited || report.machineBusy === true || report.diskStalled === true) && retriesLeft > 0) {
          retriesLeft--
          steps.push({ ...report, retried: true })
          describe(report)
          log(`  ${name} ${rate} msg/s: run once more (client-limited, busy machine or disk stall)`)
          report = await runStep(id + 1000, rate, ms, params.drainMs)
        }
        steps.push(report)
        describe(report)
        return report
      }
      const stopStep = await searchLimit(params.rates, params.search === false ? undefined : (params.bisect ?? 0), (id, rate, fine) =>
        measure(id, rate, fine ? (params.fineStepMs ?? params.stepMs) : params.stepMs)
      )
      const stoppedBecause = stopStep === undefined ? "all steps held" : stopStep.failedBecause.join("; ")
      const held = steps.filter((s) => s.held)
      const best = held.length > 0 ? held.reduce((a, b) => (b.targetRate > a.targetRate ? b : a)) : null
      const untrusted = [
        ...(stopStep?.clientLimited ? ["stopped on a client-limited step"] : []),
        ...(stopStep?.machineBusy ? ["stopped on a step taken while the machine was busy"] : []),
        ...(best?.machineBusy ? ["best step taken while the machine was busy"] : []),
        ...(stoppedByDiskStall(steps) ? ["a step that failed did so during a disk stall"] : []),
        ...(best === null ? ["no step held"] : [])
      ]
      return {
        server: name,
        setup,
        rssStartMB: mb(rssStart),
        rssIdleMB: mb(rssIdle),
        steps,
        best,
        stoppedBecause,
        trusted: untrusted.length === 0,
        ...(untrusted.length > 0 ? { untrustedBecause: untrusted.join("; ") } : {})
      }
    } finally {
      await pool.close()
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    log(`  ${name}: failed: ${message.slice(0, 500)}`)
    const held = steps.filter((s) => s.held)
    return {
      server: name,
      error: message.slice(0, 2000),
      steps,
      best: held.length > 0 ? held[held.length - 1] : null,
      stoppedBecause: "error",
      trusted: false,
      untrustedBecause: "error"
    }
  } finally {
    await server?.stop()
  }
}
