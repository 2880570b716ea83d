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

/** This project's protocol: JWT, `subscribe`, `send` with clientMsgId, `ack` and `event` frames. */
const ours: Connect = (url, spec, hooks) => {
  const ws = new WebSocket(url, {
    headers: { authorization: `Bearer ${spec.token}` },
    perMessageDeflate: false,
    ...(spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {})
  })
  const pending = new Map<string, { step: number; sentUs: number }>()
  let n = 0
  const roomJson = JSON.stringify(spec.room)
  const conn: Conn = {
    send: (step, body, sentUs) => {
      const id = String(++n)
      pending.set(id, { step, sentUs })
      // Built by hand: the body is `<digits>:<digits>:x...`, nothing to escape.
      ws.send(`{"type":"send","id":"${id}","room":${roomJson},"clientMsgId":"c${id}","body":"${body}"}`, (err) => {
        if (err !== undefined && err !== null && pending.delete(id)) hooks.onError(step, "socket_closed")
      })
    },
    close: () => ws.close()
  }
  const ready = new Promise<Conn>((resolve, reject) => {
    let subscribed = false
    ws.on("message", (data: Buffer) => {
      const text = data.toString()
      // Events are 100x the acks in fan-out: find the body without parsing the whole frame.
      if (text.startsWith('{"type":"event"')) {
        const i = text.indexOf('"body":"')
        if (i >= 0) hooks.onDelivery(text.slice(i + 8, i + 8 + HEAD))
        return
      }
      const f = JSON.parse(text) as { type: string; id?: string; code?: string; message?: string }
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
        resolve(conn)
      }
    })
    ws.once("open", () => ws.send(JSON.stringify({ type: "subscribe", id: "sub", room: spec.room })))
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode} on upgrade`)))
    ws.on("error", (e) => {
      if (!subscribed) reject(e)
    })
    ws.once("close", () => {
      if (subscribed) hooks.onClose()
      else reject(new Error("closed before subscribed"))
    })
  })
  return withTimeout(ready, "connect+subscribe", () => ws.terminate())
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
  rawws: async () => rawws,
  socketio
}
