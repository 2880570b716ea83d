/**
 * A load-generating client process, forked by the orchestrator (bench/lib/clients.ts) and
 * driven over IPC: `init` opens its share of the connections, `step` sends at a fixed rate
 * for a fixed time, `collect` answers what arrived for a step. Latencies are measured on
 * a clock shared by all processes of the machine, performance.timeOrigin + performance.now()
 * (wall clock at process start plus a monotonic offset; sub-millisecond across processes),
 * because a message sent by one client process is delivered to others.
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
  readonly e2e: Histogram
  readonly ack: Histogram
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>
  readonly disconnectsAtStart: number
}

const steps = new Map<number, StepStats>()
let conns: Array<{ readonly spec: ConnSpec; readonly conn: Conn }> = []
let bodyPad = ""
let disconnects = 0
let late = 0
let closing = false

const reply = (msg: FromWorker) => process.send!(msg)

const onDelivery = (head: string) => {
  const received = nowUs()
  const a = head.indexOf(":")
  const b = head.indexOf(":", a + 1)
  const stats = steps.get(Number(head.slice(0, a)))
  if (stats === undefined) {
    late++
    return
  }
  stats.received++
  stats.e2e.record(received - Number(head.slice(a + 1, b)))
}

const hooks = {
  onDelivery,
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
  // The body is `<step>:<us>:` then padding up to bodyBytes.
  bodyPad = "x".repeat(Math.max(1, msg.bodyBytes - 24))
  let failed = 0
  let firstError: string | undefined
  const opened: Array<{ spec: ConnSpec; conn: Conn }> = []
  let next = 0
  const lane = async () => {
    while (next < msg.conns.length) {
      const spec = msg.conns[next++]
      try {
        opened.push({ spec, conn: await connect(msg.url, spec, hooks) })
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
      e2e: new Histogram(),
      ack: new Histogram(),
      elu: performance.eventLoopUtilization(),
      disconnectsAtStart: disconnects
    }
    steps.set(msg.step, stats)
    const senders = conns.filter((c) => c.spec.sender)
    const perMs = msg.ratePerSender / 1000
    const counts = new Array<number>(senders.length).fill(0)
    const sentByRoom: Record<string, number> = {}
    const t0 = performance.now()
    // Open loop: each tick sends whatever is due by now, so a late tick does not lower the
    // rate; each sender's phase spreads the senders' messages over one interval.
    const tick = () => {
      const elapsed = Math.min(performance.now() - t0, msg.durationMs)
      for (let i = 0; i < senders.length; i++) {
        const { spec, conn } = senders[i]
        const due = Math.min(msg.maxPerSender, Math.floor(elapsed * perMs + (spec.phase ?? 0)))
        while (counts[i] < due) {
          counts[i]++
          const us = nowUs()
          try {
            conn.send(msg.step, `${msg.step}:${us}:${bodyPad}`, us)
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
    e2e: stats?.e2e.toData() ?? empty,
    ack: stats?.ack.toData() ?? empty,
    elu: stats === undefined ? 0 : Math.round(performance.eventLoopUtilization(stats.elu).utilization * 1000) / 1000,
    disconnects: disconnects - (stats?.disconnectsAtStart ?? disconnects),
    late
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
