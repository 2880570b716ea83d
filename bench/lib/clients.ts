/**
 * The orchestrator's side of the client processes: forks them (default 2), deals the
 * connections out round-robin (so a room's members sit in several processes and every
 * delivery crosses a process boundary like it would across machines), and runs
 * request/reply over IPC with a bound on every wait.
 */
import { fork, type ChildProcess } from "node:child_process"
import type { ConnSpec, FromWorker, Ready, Sent, Stats, Stormed, ToWorker } from "../client/messages.ts"
import { compiled } from "./build.ts"
import { ROOT, stopChild, track } from "./children.ts"
import { flagsOf } from "./servers.ts"
import type { Protocol } from "./servers.ts"

/** The client processes run compiled too (./build.ts): the TS loader would cost them CPU and start time. */
const WORKER = compiled("bench/client/worker.ts")

type Pending = { resolve: (m: FromWorker) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

interface Worker {
  readonly child: ChildProcess
  readonly call: (msg: DistributiveOmit<ToWorker, "rid">, timeoutMs: number) => Promise<FromWorker>
}

type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never

/** `BENCH_CLIENT_NODE_FLAGS="--flag ..."`: extra Node/V8 flags for the client processes (e.g. `--cpu-prof`, to see what a delivery costs them). */
const clientNodeFlags = (): Array<string> => flagsOf(process.env.BENCH_CLIENT_NODE_FLAGS)

const startWorker = (): Worker => {
  const child = track(fork(WORKER, [], { cwd: ROOT, execArgv: clientNodeFlags(), stdio: ["ignore", "inherit", "inherit", "ipc"] }))
  const pending = new Map<number, Pending>()
  let rid = 0
  child.on("message", (raw) => {
    const msg = raw as FromWorker
    const p = pending.get(msg.rid)
    if (p === undefined) return
    pending.delete(msg.rid)
    clearTimeout(p.timer)
    if (msg.type === "error") p.reject(new Error(`client process: ${msg.message}`))
    else p.resolve(msg)
  })
  child.once("exit", (code) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer)
      p.reject(new Error(`client process exited (${code})`))
    }
    pending.clear()
  })
  return {
    child,
    call: (msg, timeoutMs) =>
      new Promise((resolve, reject) => {
        const id = ++rid
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`client process did not answer ${msg.type} within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, { resolve, reject, timer })
        child.send({ ...msg, rid: id } as ToWorker)
      })
  }
}

export interface ClientPool {
  readonly size: number
  /** The client processes' pids: their CPU is read from /proc per step. */
  readonly pids: ReadonlyArray<number>
  readonly ready: ReadonlyArray<Ready>
  readonly step: (step: number, ratePerSender: number, durationMs: number, maxPerSender: number) => Promise<ReadonlyArray<Sent>>
  readonly collect: (step: number, final: boolean) => Promise<ReadonlyArray<Stats>>
  /** The reconnect storm: every process drops and resumes its stormer connections at once. */
  readonly storm: (dropMs: number) => Promise<ReadonlyArray<Stormed>>
  readonly close: () => Promise<void>
}

export interface PoolOptions {
  readonly processes: number
  readonly protocol: Protocol
  readonly url: string
  readonly conns: ReadonlyArray<ConnSpec>
  readonly bodyBytes: number
  /** Connections being opened at once, per process. */
  readonly connectConcurrency?: number
  /** Bound on opening every connection. */
  readonly connectTimeoutMs?: number
  /** One more process holds every sending connection, the others the rest (LoadParams.senderProcess). */
  readonly senderProcess?: boolean
}

export const startClients = async (options: PoolOptions): Promise<ClientPool> => {
  const senders = options.conns.filter((c) => c.sender)
  const apart = options.senderProcess === true && senders.length > 0 && senders.length < options.conns.length
  const dealt = apart ? options.conns.filter((c) => !c.sender) : options.conns
  const n = Math.max(1, Math.min(options.processes, dealt.length))
  const shares: Array<Array<ConnSpec>> = Array.from({ length: n }, () => [])
  dealt.forEach((c, i) => shares[i % n].push(c))
  if (apart) shares.unshift(senders)
  const workers = shares.map(() => startWorker())
  const close = async () => {
    await Promise.all(
      workers.map(async (w) => {
        await w.call({ type: "shutdown" }, 10_000).catch(() => undefined)
        await stopChild(w.child, 5_000)
      })
    )
  }
  try {
    const ready = (await Promise.all(
      workers.map((w, i) =>
        w.call(
          {
            type: "init",
            protocol: options.protocol,
            url: options.url,
            conns: shares[i],
            bodyBytes: options.bodyBytes,
            connectConcurrency: options.connectConcurrency ?? 64
          },
          options.connectTimeoutMs ?? 300_000
        )
      )
    )) as Array<Ready>
    return {
      size: workers.length,
      pids: workers.map((w) => w.child.pid!),
      ready,
      step: async (step, ratePerSender, durationMs, maxPerSender) =>
        (await Promise.all(
          workers.map((w) => w.call({ type: "step", step, ratePerSender, durationMs, maxPerSender }, durationMs + 60_000))
        )) as Array<Sent>,
      storm: async (dropMs) => (await Promise.all(workers.map((w) => w.call({ type: "storm", dropMs }, dropMs + 180_000)))) as Array<Stormed>,
      collect: async (step, final) =>
        (await Promise.all(workers.map((w) => w.call({ type: "collect", step, final }, 30_000)))) as Array<Stats>,
      close
    }
  } catch (e) {
    await close()
    throw e
  }
}
