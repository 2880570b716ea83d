/** Helpers for the SDK tests: a client on `ws`, and waiting on room events without sleeping. */
import WebSocket from "ws"
import type { Emitter } from "../../clients/js/src/emitter.ts"
import { connect, type ChatClient, type ChatEvent, type ChatRoom, type ConnectOptions } from "../../clients/js/src/index.ts"

export const sdkClient = (url: string | string[], options: Partial<ConnectOptions> & ({ token: string } | { getToken: () => Promise<string> })): ChatClient =>
  connect({ url, WebSocket: WebSocket as unknown as ConnectOptions["WebSocket"], backoff: { initialMs: 50, maxMs: 1_000 }, ...options })

/** Every event the room delivers, in delivery order, and a way to await a condition on them. */
export const record = (room: ChatRoom) => {
  const events: ChatEvent[] = []
  const waiters = new Set<() => void>()
  room.on("event", (e) => {
    events.push(e)
    for (const w of [...waiters]) w()
  })
  const until = (cond: (events: ChatEvent[]) => boolean, timeoutMs = 20_000, what = "events") =>
    new Promise<ChatEvent[]>((resolve, reject) => {
      const check = () => {
        if (!cond(events)) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve(events)
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out waiting for ${what}; have ${events.length} events, last ${JSON.stringify(events.at(-1))}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })
  return { events, until }
}

/** Resolves with the first value `on` delivers that matches. */
export const next = <E extends object, K extends keyof E>(
  emitter: Emitter<E>,
  type: K,
  match: (v: E[K]) => boolean = () => true,
  timeoutMs = 10_000
) =>
  new Promise<E[K]>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`timed out waiting for ${String(type)}`))
    }, timeoutMs)
    const stop = emitter.on(type, (v) => {
      if (!match(v)) return
      clearTimeout(timer)
      stop()
      resolve(v)
    })
  })

/** Each body sent exactly once, in seq order: what every client of the room must have seen. */
export const checkExactlyOnceInOrder = (events: ReadonlyArray<ChatEvent>, firstSeq: number, expectedBodies: ReadonlySet<string>) => {
  const messages = events.filter((e) => e.kind === "message.created")
  const seqs = events.map((e) => e.seq)
  const gaps = seqs.filter((s, i) => s !== firstSeq + i)
  const bodies = messages.map((e) => (e.data as { body: string }).body)
  const dup = bodies.filter((b, i) => bodies.indexOf(b) !== i)
  const missing = [...expectedBodies].filter((b) => !bodies.includes(b))
  return { count: messages.length, outOfOrder: gaps.length, duplicates: dup.length, missing: missing.length }
}
