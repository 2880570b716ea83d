/**
 * One small adapter per wire protocol, so the load loop is the same for every server:
 * connect and join one room, send a body, report deliveries, acks and errors. A delivery
 * hands over only the start of the body, where the sender wrote `<step>:<send time us>:`.
 */
import type { Protocol } from "../lib/servers.ts"
import type { ConnSpec } from "./messages.ts"
import { openLite, type LiteSocket } from "./wsLite.ts"

export interface Hooks {
  readonly onDelivery: (bodyHead: string) => void
  readonly onAck: (step: number, sentUs: number) => void
  readonly onError: (step: number | undefined, code: string) => void
  readonly onClose: () => void
}

export interface Conn {
  readonly send: (step: number, body: string, sentUs: number) => void
  readonly close: () => void
  /**
   * Drop the connection abruptly, wait `dropMs`, connect again and resume from the last
   * event seen (our protocol only); answers the ms from the new connect to subscribed.
   */
  readonly reconnect?: (dropMs: number) => Promise<number>
}

export type Connect = (url: string, spec: ConnSpec, hooks: Hooks) => Promise<Conn>

/** Long enough for `<step>:<16-digit us>:<sender>.<n>:`. */
const HEAD = 48
const CONNECT_TIMEOUT_MS = 30_000

const withTimeout = <A>(p: Promise<A>, what: string, cleanup: () => void): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`${what} timed out after ${CONNECT_TIMEOUT_MS} ms`))
    }, CONNECT_TIMEOUT_MS)
    p.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      }
    )
  })

const EVENT_PREFIX = Buffer.from('{"type":"event"')
const SEQ_KEY = Buffer.from('"seq":')
const BODY_KEY = Buffer.from('"body":"')

/**
 * Where `key` starts in b[s, e), or -1. A loop in JS, not Buffer.indexOf: for a key a few
 * dozen bytes into a short frame it costs a third of the native call (and the native search
 * would run on past `e` into older reads left in the shared read buffer).
 */
const indexIn = (b: Buffer, key: Buffer, s: number, e: number): number => {
  const k0 = key[0]
  const last = e - key.length
  next: for (let i = s; i <= last; i++) {
    if (b[i] !== k0) continue
    for (let j = 1; j < key.length; j++) if (b[i + j] !== key[j]) continue next
    return i
  }
  return -1
}

const startsWith = (b: Buffer, key: Buffer, s: number, e: number): boolean => {
  if (e - s < key.length) return false
  for (let j = 0; j < key.length; j++) if (b[s + j] !== key[j]) return false
  return true
}

/** The unsigned decimal number at b[i], up to the first other byte. */
const digitsAt = (b: Buffer, i: number, e: number): number => {
  let v = 0
  for (; i < e; i++) {
    const d = b[i] - 48
    if (d < 0 || d > 9) break
    v = v * 10 + d
  }
  return v
}

/**
 * This project's protocol: JWT, `subscribe`, `send` with clientMsgId, `ack` and `event` frames.
 * Keeps the last event seq it saw, so `reconnect` (the reconnect storm) can drop the socket
 * and resume with `subscribe {since}`: the server replays what was missed, in order.
 */
const ours: Connect = (url, spec, hooks) => {
  const pending = new Map<string, { step: number; sentUs: number }>()
  let n = 0
  let lastSeq: number | undefined
  let dropping = false
  let ws: LiteSocket | undefined
  let closed: (() => void) | undefined
  const roomJson = JSON.stringify(spec.room)
  const open = (since: number | undefined) => {
    let subscribed = false
    let onSubscribed!: () => void
    let onFailed!: (e: Error) => void
    const ready = new Promise<void>((resolve, reject) => {
      onSubscribed = resolve
      onFailed = reject
    })
    const sock = openLite(
      url,
      { headers: { authorization: `Bearer ${spec.token}` }, ...(spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {}) },
      {
        message: (b, s, e) => {
          // Events are 100x the acks in fan-out: find the seq and body in the bytes, decoding
          // only those, without parsing the frame.
          if (startsWith(b, EVENT_PREFIX, s, e)) {
            const q = indexIn(b, SEQ_KEY, s, e)
            if (q >= 0) {
              const seq = digitsAt(b, q + SEQ_KEY.length, e)
              if (lastSeq === undefined || seq > lastSeq) lastSeq = seq
            }
            const i = indexIn(b, BODY_KEY, q >= 0 ? q : s, e)
            if (i >= 0) hooks.onDelivery(b.toString("latin1", i + BODY_KEY.length, Math.min(e, i + BODY_KEY.length + HEAD)))
            return
          }
          const f = JSON.parse(b.toString("utf8", s, e)) as { type: string; id?: string; code?: string; message?: string; seq?: number; truncated?: boolean }
          if (f.type === "ack") {
            const p = f.id !== undefined ? pending.get(f.id) : undefined
            if (p !== undefined) {
              pending.delete(f.id!)
              hooks.onAck(p.step, p.sentUs)
            }
          } else if (f.type === "error") {
            if (!subscribed && f.id === "sub") {
              onFailed(new Error(`subscribe failed: ${f.code} ${f.message}`))
              return
            }
            const p = f.id !== undefined ? pending.get(f.id) : undefined
            if (p !== undefined) pending.delete(f.id!)
            hooks.onError(p?.step, f.code ?? "unknown")
          } else if (f.type === "subscribed" && !subscribed) {
            subscribed = true
            if (f.truncated === true) hooks.onError(undefined, "resume_truncated")
            // A first subscription starts at the room's head; a resume keeps the seq it had.
            if (lastSeq === undefined && typeof f.seq === "number") lastSeq = f.seq
            onSubscribed()
          }
        },
        close: () => {
          for (const [id, p] of pending) {
            pending.delete(id)
            hooks.onError(p.step, "socket_closed")
          }
          if (subscribed && !dropping) hooks.onClose()
          else if (!subscribed) onFailed(new Error("closed before subscribed"))
          closed?.()
        }
      }
    )
    ws = sock
    const subscribing = sock.upgraded.then(() => {
      sock.send(JSON.stringify({ type: "subscribe", id: "sub", room: spec.room, ...(since !== undefined ? { since } : {}) }))
      return ready
    })
    return withTimeout(subscribing, "connect+subscribe", () => sock.terminate())
  }
  const conn: Conn = {
    send: (step, body, sentUs) => {
      const id = String(++n)
      pending.set(id, { step, sentUs })
      // Built by hand: the body is `<digits>:<digits>:x...`, nothing to escape.
      ws!.send(`{"type":"send","id":"${id}","room":${roomJson},"clientMsgId":"c${id}","body":"${body}"}`, (err) => {
        if (err !== undefined && err !== null && pending.delete(id)) hooks.onError(step, "socket_closed")
      })
    },
    close: () => ws?.close(),
    reconnect: async (dropMs) => {
      dropping = true
      const old = ws!
      const gone = new Promise<void>((resolve) => (closed = resolve))
      old.terminate()
      await gone
      closed = undefined
      await new Promise((resolve) => setTimeout(resolve, dropMs))
      const t0 = performance.now()
      try {
        await open(lastSeq)
      } finally {
        dropping = false
      }
      return performance.now() - t0
    }
  }
  return open(undefined).then(() => conn)
}

/** The raw ws peer: `J<room>` to join, `M<room><body>` to send, frames forwarded as they are. */
const rawws: Connect = (url, spec, hooks) => {
  if (spec.room.length !== 8) throw new Error("raw ws rooms are 8 characters")
  let joined = false
  let onJoined!: () => void
  let onFailed!: (e: Error) => void
  const join = new Promise<void>((resolve, reject) => {
    onJoined = resolve
    onFailed = reject
  })
  const ws = openLite(url, spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {}, {
    message: (b, s, e) => {
      if (e - s < 9) return
      if (b[s] === 0x4d) hooks.onDelivery(b.toString("latin1", s + 9, Math.min(e, s + 9 + HEAD)))
      else if (b[s] === 0x4a && !joined) {
        joined = true
        onJoined()
      }
    },
    close: () => {
      if (joined) hooks.onClose()
      else onFailed(new Error("closed before joined"))
    }
  })
  const prefix = `M${spec.room}`
  const conn: Conn = {
    send: (step, body) => {
      ws.send(prefix + body, (err) => {
        if (err !== undefined && err !== null) hooks.onError(step, "socket_closed")
      })
    },
    close: () => ws.close()
  }
  const ready = ws.upgraded.then(() => {
    ws.send(`J${spec.room}`)
    return join
  })
  return withTimeout(ready.then(() => conn), "connect+join", () => ws.terminate())
}

/** Both Socket.IO peers: `join` and `msg` events with acks. */
const socketio = async (): Promise<Connect> => {
  // Loaded only by the processes that need it: every import slows a client's start.
  const { io } = await import("socket.io-client")
  return (url, spec, hooks) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: CONNECT_TIMEOUT_MS })
    const conn: Conn = {
      send: (step, body, sentUs) => {
        socket.emit("msg", spec.room, body, (err: string | null) => {
          if (err === null || err === undefined) hooks.onAck(step, sentUs)
          else hooks.onError(step, "peer_error")
        })
      },
      close: () => {
        socket.disconnect()
      }
    }
    const ready = new Promise<Conn>((resolve, reject) => {
      let joined = false
      socket.on("msg", (_room: string, body: string) => hooks.onDelivery(body.slice(0, HEAD)))
      socket.once("connect", () =>
        socket.emit("join", spec.room, () => {
          joined = true
          resolve(conn)
        })
      )
      socket.once("connect_error", (e) => reject(e))
      socket.on("disconnect", () => {
        if (joined) hooks.onClose()
      })
    })
    return withTimeout(ready, "connect+join", () => socket.disconnect())
  }
}

export const adapters: Record<Protocol, () => Promise<Connect>> = {
  ours: async () => ours,
  // bench/peers/leanPg.ts speaks the part of our protocol the load uses.
  lean: async () => ours,
  rawws: async () => rawws,
  socketio
}
