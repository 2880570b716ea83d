/**
 * One small adapter per wire protocol, so the load loop is the same for every server:
 * connect and join one room, send a body, report deliveries, acks and errors. A delivery
 * hands over only the start of the body, where the sender wrote `<step>:<send time us>:`.
 */
import WebSocket from "ws"
import type { Protocol } from "../lib/servers.ts"
import type { ConnSpec } from "./messages.ts"

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
  let ws: WebSocket | undefined
  const roomJson = JSON.stringify(spec.room)
  const open = (since: number | undefined) => {
    const sock = new WebSocket(url, {
      headers: { authorization: `Bearer ${spec.token}` },
      perMessageDeflate: false,
      ...(spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {})
    })
    ws = sock
    const ready = new Promise<void>((resolve, reject) => {
      let subscribed = false
      sock.on("message", (data: Buffer) => {
        const text = data.toString()
        // Events are 100x the acks in fan-out: find the seq and body without parsing the whole frame.
        if (text.startsWith('{"type":"event"')) {
          const s = text.indexOf('"seq":')
          if (s >= 0) {
            const seq = parseInt(text.slice(s + 6, s + 26), 10)
            if (lastSeq === undefined || seq > lastSeq) lastSeq = seq
          }
          const i = text.indexOf('"body":"')
          if (i >= 0) hooks.onDelivery(text.slice(i + 8, i + 8 + HEAD))
          return
        }
        const f = JSON.parse(text) as { type: string; id?: string; code?: string; message?: string; seq?: number; truncated?: boolean }
        if (f.type === "ack") {
          const p = f.id !== undefined ? pending.get(f.id) : undefined
          if (p !== undefined) {
            pending.delete(f.id!)
            hooks.onAck(p.step, p.sentUs)
          }
        } else if (f.type === "error") {
          if (!subscribed && f.id === "sub") {
            reject(new Error(`subscribe failed: ${f.code} ${f.message}`))
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
          resolve()
        }
      })
      sock.once("open", () =>
        sock.send(JSON.stringify({ type: "subscribe", id: "sub", room: spec.room, ...(since !== undefined ? { since } : {}) }))
      )
      sock.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode} on upgrade`)))
      sock.on("error", (e) => {
        if (!subscribed) reject(e)
      })
      sock.once("close", () => {
        for (const [id, p] of pending) {
          pending.delete(id)
          hooks.onError(p.step, "socket_closed")
        }
        if (subscribed && !dropping) hooks.onClose()
        else if (!subscribed) reject(new Error("closed before subscribed"))
      })
    })
    return withTimeout(ready, "connect+subscribe", () => sock.terminate())
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
      const closed = new Promise<void>((resolve) => old.once("close", () => resolve()))
      old.terminate()
      await closed
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
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ...(spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {})
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
  const ready = new Promise<Conn>((resolve, reject) => {
    let joined = false
    ws.on("message", (data: Buffer) => {
      if (data[0] === 0x4d) hooks.onDelivery(data.toString("latin1", 9, 9 + HEAD))
      else if (data[0] === 0x4a && !joined) {
        joined = true
        resolve(conn)
      }
    })
    ws.once("open", () => ws.send(`J${spec.room}`))
    ws.on("error", (e) => {
      if (!joined) reject(e)
    })
    ws.once("close", () => {
      if (joined) hooks.onClose()
      else reject(new Error("closed before joined"))
    })
  })
  return withTimeout(ready, "connect+join", () => ws.terminate())
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
