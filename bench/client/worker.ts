/**
 * A load-generating client process, forked by the orchestrator (bench/lib/clients.ts) and
 * driven over IPC: `init` opens its share of the connections, `step` sends at a fixed rate
 * for a fixed time, `collect` answers what arrived for a step. Latencies are measured on
 * a clock shared by all processes of the machine, performance.timeOrigin + performance.now()
 * (wall clock at process start plus a monotonic offset; sub-millisecond across processes),
 * because a message sent by one client process is delivered to others.
 *
 * No coordinated omission: every message has a scheduled send time on a fixed-rate
 * schedule, and that time (not the moment the loop got round to sending it) is written into
 * the body and is where ack and delivery latencies start. How late each send ran behind its
 * schedule is recorded apart (`lateness`): a late client shows there, and the orchestrator
 * marks such a step client-limited.
 *
 * Each body starts `<step>:<scheduled us>:<sender id>.<n>:` (n counts from 1 per sender and
 * step), so every receiving connection checks, per sender, for duplicates and for messages
 * arriving after a later one of the same sender (reordered).
 */
import { performance } from "node:perf_hooks"
import { Histogram } from "../lib/histogram.ts"
import { adapters, type Conn } from "./adapters.ts"
import type { ConnSpec, FromWorker, ToWorker } from "./messages.ts"

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000)

interface StepStats {
  sent: number
  received: number
  acks: number
  errors: Record<string, number>
  duplicates: number
  reordered: number
  readonly e2e: Histogram
  readonly ack: Histogram
  /** Actual send time minus scheduled send time. */
  readonly lateness: Histogram
  /** Per receiving connection, per sender: the highest n seen and a bitmap of every n seen. */
  readonly seen: Array<Array<Seen | undefined> | undefined>
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>
  readonly disconnectsAtStart: number
}

interface Seen {
  max: number
  bits: Uint8Array
}

const steps = new Map<number, StepStats>()
let conns: Array<{ readonly spec: ConnSpec; readonly conn: Conn }> = []
let bodyPad = ""
let disconnects = 0
let late = 0
let closing = false

const reply = (msg: FromWorker) => process.send!(msg)

/** Where numberAt stopped: the first character after the digits. */
let cursor = 0

/** The unsigned decimal number at head[from], up to the first other character (sets `cursor` there). */
const numberAt = (head: string, from: number): number => {
  let v = 0
  let i = from
  for (; i < head.length; i++) {
    const d = head.charCodeAt(i) - 48
    if (d < 0 || d > 9) break
    v = v * 10 + d
  }
  cursor = i
  return v
}

const COLON = 58
const DOT = 46

// Runs once per delivery, 100x per message in fan-out: the head is read in place, no slices.
const onDelivery = (receiver: number, head: string) => {
  const received = nowUs()
  const stats = steps.get(numberAt(head, 0))
  if (stats === undefined || head.charCodeAt(cursor) !== COLON) {
    late++
    return
  }
  const sentUs = numberAt(head, cursor + 1)
  if (head.charCodeAt(cursor) === COLON) {
    const sender = numberAt(head, cursor + 1)
    const dot = head.charCodeAt(cursor) === DOT
    const n = numberAt(head, cursor + 1)
    if (dot && head.charCodeAt(cursor) === COLON) {
      const bySender = (stats.seen[receiver] ??= [])
      let pair = bySender[sender]
      if (pair === undefined) {
        pair = { max: 0, bits: new Uint8Array(64) }
        bySender[sender] = pair
      }
      if (n >> 3 >= pair.bits.length) {
        const grown = new Uint8Array(Math.max(pair.bits.length * 2, (n >> 3) + 1))
        grown.set(pair.bits)
        pair.bits = grown
      }
      const bit = 1 << (n & 7)
      if ((pair.bits[n >> 3] & bit) !== 0) {
        stats.duplicates++
        return
      }
      pair.bits[n >> 3] |= bit
      if (n < pair.max) stats.reordered++
      else pair.max = n
    }
  }
  stats.received++
  stats.e2e.record(received - sentUs)
}

const hooks = {
  onDelivery: (head: string) => onDelivery(0, head),
  onAck: (step: number, sentUs: number) => {
    const stats = steps.get(step)
    if (stats === undefined) return
    stats.acks++
    stats.ack.record(nowUs() - sentUs)
  },
  onError: (step: number | undefined, code: string) => {
    const stats = step === undefined ? undefined : steps.get(step)
    if (stats !== undefined) stats.errors[code] = (stats.errors[code] ?? 0) + 1
  },
  onClose: () => {
    if (!closing) disconnects++
  }
}

const init = async (msg: Extract<ToWorker, { type: "init" }>) => {
  const t0 = performance.now()
  const connect = await adapters[msg.protocol]()
  // The body is `<step>:<us>:<sender>.<n>:` (about 32 characters) then padding up to bodyBytes.
  bodyPad = "x".repeat(Math.max(1, msg.bodyBytes - 32))
  let failed = 0
  let firstError: string | undefined
  const opened: Array<{ spec: ConnSpec; conn: Conn }> = []
  let next = 0
  const lane = async () => {
    while (next < msg.conns.length) {
      const index = next++
      const spec = msg.conns[index]
      try {
        opened.push({ spec, conn: await connect(spec.url ?? msg.url, spec, { ...hooks, onDelivery: (head: string) => onDelivery(index, head) }) })
      } catch (e) {
        failed++
        firstError ??= String(e instanceof Error ? e.message : e).slice(0, 300)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, msg.connectConcurrency) }, lane))
  conns = opened
  return {
    type: "ready" as const,
    connected: opened.length,
    failed,
    ...(firstError !== undefined ? { firstError } : {}),
    connectMs: Math.round(performance.now() - t0)
  }
}

const runStep = (msg: Extract<ToWorker, { type: "step" }>) =>
  new Promise<FromWorker>((resolve) => {
    const stats: StepStats = {
      sent: 0,
      received: 0,
      acks: 0,
      errors: {},
      duplicates: 0,
      reordered: 0,
      e2e: new Histogram(),
      ack: new Histogram(),
      lateness: new Histogram(),
      seen: [],
      elu: performance.eventLoopUtilization(),
      disconnectsAtStart: disconnects
    }
    steps.set(msg.step, stats)
    const senders = conns.filter((c) => c.spec.sender)
    // Messages per ms of each sender: the step's rate per sender times the sender's weight
    // (1 but in the Zipf scenario, where the weights average 1).
    const perMs = senders.map((c) => (msg.ratePerSender * (c.spec.weight ?? 1)) / 1000)
    const caps = senders.map((c) => Math.ceil(msg.maxPerSender * (c.spec.weight ?? 1)) + 1)
    const counts = new Array<number>(senders.length).fill(0)
    const sentByRoom: Record<string, number> = {}
    const t0 = performance.now()
    const t0Us = (performance.timeOrigin + t0) * 1000
    // Open loop on a fixed schedule: message k of a sender is due at (k - phase) / rate after
    // the start; each tick sends whatever is due by now, stamped with its scheduled time, so a
    // late tick neither lowers the rate nor hides the wait from the latencies.
    const tick = () => {
      const elapsed = Math.min(performance.now() - t0, msg.durationMs)
      for (let i = 0; i < senders.length; i++) {
        const { spec, conn } = senders[i]
        const phase = spec.phase ?? 0
        const due = Math.min(caps[i], Math.floor(elapsed * perMs[i] + phase))
        while (counts[i] < due) {
          const k = ++counts[i]
          const scheduledUs = Math.round(t0Us + ((k - phase) / perMs[i]) * 1000)
          stats.lateness.record(nowUs() - scheduledUs)
          try {
            conn.send(msg.step, `${msg.step}:${scheduledUs}:${spec.senderId ?? i}.${k}:${bodyPad}`, scheduledUs)
          } catch {
            hooks.onError(msg.step, "send_failed")
          }
          stats.sent++
          sentByRoom[spec.room] = (sentByRoom[spec.room] ?? 0) + 1
        }
      }
      if (elapsed >= msg.durationMs) {
        clearInterval(timer)
        resolve({ rid: msg.rid, type: "sent", step: msg.step, sentByRoom, sent: stats.sent, windowMs: Math.round(performance.now() - t0) })
      }
    }
    const timer = setInterval(tick, 1)
    tick()
  })

const collect = (msg: Extract<ToWorker, { type: "collect" }>): FromWorker => {
  const stats = steps.get(msg.step)
  if (msg.final) steps.delete(msg.step)
  const empty = new Histogram().toData()
  return {
    rid: msg.rid,
    type: "stats",
    step: msg.step,
    sent: stats?.sent ?? 0,
    received: stats?.received ?? 0,
    acks: stats?.acks ?? 0,
    errors: stats?.errors ?? {},
    duplicates: stats?.duplicates ?? 0,
    reordered: stats?.reordered ?? 0,
    e2e: stats?.e2e.toData() ?? empty,
    ack: stats?.ack.toData() ?? empty,
    lateness: stats?.lateness.toData() ?? empty,
    elu: stats === undefined ? 0 : Math.round(performance.eventLoopUtilization(stats.elu).utilization * 1000) / 1000,
    disconnects: disconnects - (stats?.disconnectsAtStart ?? disconnects),
    late
  }
}

const storm = async (msg: Extract<ToWorker, { type: "storm" }>): Promise<FromWorker> => {
  const stormers = conns.filter((c) => c.spec.stormer === true && c.conn.reconnect !== undefined)
  const h = new Histogram()
  let failed = 0
  let firstError: string | undefined
  const t0 = performance.now()
  await Promise.all(
    stormers.map(async ({ conn }) => {
      try {
        h.record((await conn.reconnect!(msg.dropMs)) * 1000)
      } catch (e) {
        failed++
        firstError ??= String(e instanceof Error ? e.message : e).slice(0, 300)
      }
    })
  )
  return {
    rid: msg.rid,
    type: "stormed",
    stormers: stormers.length,
    failed,
    ...(firstError !== undefined ? { firstError } : {}),
    reconnect: h.toData(),
    wallMs: Math.round(performance.now() - t0)
  }
}

process.on("message", (raw) => {
  const msg = raw as ToWorker
  const fail = (e: unknown) => reply({ rid: msg.rid, type: "error", message: String(e instanceof Error ? e.stack : e) })
  switch (msg.type) {
    case "init":
      init(msg).then((r) => reply({ rid: msg.rid, ...r }), fail)
      break
    case "step":
      runStep(msg).then(reply, fail)
      break
    case "collect":
      reply(collect(msg))
      break
    case "storm":
      storm(msg).then(reply, fail)
      break
    case "shutdown":
      closing = true
      for (const { conn } of conns) conn.close()
      conns = []
      reply({ rid: msg.rid, type: "bye" })
      process.disconnect()
      // Sockets still closing must not keep a finished client alive.
      setTimeout(() => process.exit(0), 2000).unref()
      break
  }
})

// The orchestrator went away: nothing left to measure for.
process.on("disconnect", () => {
  closing = true
  for (const { conn } of conns) conn.close()
  setTimeout(() => process.exit(0), 2000).unref()
})

// Stopped by the orchestrator: exit normally, so a profile asked for with
// BENCH_CLIENT_NODE_FLAGS="--cpu-prof" is written (the default SIGTERM end writes nothing).
process.on("SIGTERM", () => process.exit(0))
