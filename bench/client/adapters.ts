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

/** A promise and its settle functions, for message handlers that settle it later. */
const settleable = () => {
  let resolve!: () => void
  let reject!: (e: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

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
    const { promise: ready, resolve: onSubscribed, reject: onFailed } = settleable()
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
  const { promise: join, resolve: onJoined, reject: onFailed } = settleable()
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

const MSG_EVENT = Buffer.from('42["msg",')
const STRING_SEPARATOR = Buffer.from('","')
const CHAR_0 = 0x30
const CHAR_1 = 0x31
const CHAR_2 = 0x32
const CHAR_3 = 0x33
const CHAR_4 = 0x34

/**
 * Both Socket.IO peers, spoken over wsLite like the others (socket.io-client cost a client
 * process more per delivery than `ws` did, so the Socket.IO rows measured heavier clients
 * than the rest): Engine.IO 4 on the WebSocket transport, and the Socket.IO 5 packets the
 * load uses. In order:
 *   server `0{...}` (open)                 client `40` (connect to "/")
 *   server `40{"sid":...}` (connected)     client `42<id>["join",room]`, server `43<id>[null]`
 *   client `42<id>["msg",room,body]`       server `43<id>[null]` or `43<id>["<error>"]`, and
 *                                          `42["msg",room,body]` to every member of the room
 *   server `2` (ping)                      client `3` (pong)
 */
const socketio: Connect = (httpUrl, spec, hooks) => {
  const url = new URL(httpUrl)
  url.protocol = "ws:"
  url.pathname = "/socket.io/"
  url.search = "?EIO=4&transport=websocket"
  const acks = new Map<number, { readonly answer: (ok: boolean) => void; readonly failed: () => void }>()
  let nextAck = 0
  let joined = false
  const { promise: join, resolve: onJoined, reject: onFailed } = settleable()
  const roomJson = JSON.stringify(spec.room)
  const emit = (packet: (id: number) => string, answer: (ok: boolean) => void, failed: () => void) => {
    const id = ++nextAck
    acks.set(id, { answer, failed })
    ws.send(packet(id), (err) => {
      if (err !== undefined && err !== null && acks.delete(id)) failed()
    })
  }
  const ws = openLite(url.href, spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {}, {
    message: (b, s, e) => {
      if (e - s < 1) return
      const engine = b[s]
      if (engine === CHAR_4 && e - s >= 2) {
        const kind = b[s + 1]
        if (kind === CHAR_2) {
          // 42["msg","<room>","<body>"]: the body starts after the room's closing quote.
          if (!startsWith(b, MSG_EVENT, s, e)) return
          const q = indexIn(b, STRING_SEPARATOR, s + MSG_EVENT.length + 1, e)
          if (q >= 0) hooks.onDelivery(b.toString("latin1", q + STRING_SEPARATOR.length, Math.min(e, q + STRING_SEPARATOR.length + HEAD)))
        } else if (kind === CHAR_3) {
          let p = s + 2
          while (p < e && b[p] >= CHAR_0 && b[p] <= CHAR_0 + 9) p++
          const id = digitsAt(b, s + 2, p)
          const pending = acks.get(id)
          if (pending === undefined) return
          acks.delete(id)
          // `[null]` is success; anything else carries the peer's error.
          pending.answer(b[p] === 0x5b && b[p + 1] === 0x6e)
        } else if (kind === CHAR_0) {
          emit(
            (id) => `42${id}["join",${roomJson}]`,
            () => {
              joined = true
              onJoined()
            },
            () => onFailed(new Error("join not sent"))
          )
        } else if (kind === CHAR_4) onFailed(new Error(`connect refused: ${b.toString("utf8", s + 2, e).slice(0, 200)}`))
      } else if (engine === CHAR_2) ws.send("3")
      else if (engine === CHAR_0) ws.send("40")
      else if (engine === CHAR_1) ws.close()
    },
    close: () => {
      for (const pending of acks.values()) pending.failed()
      acks.clear()
      if (joined) hooks.onClose()
      else onFailed(new Error("closed before joined"))
    }
  })
  const conn: Conn = {
    send: (step, body, sentUs) =>
      // Built by hand: the body is `<digits>:<digits>:x...`, nothing to escape.
      emit(
        (id) => `42${id}["msg",${roomJson},"${body}"]`,
        (ok) => (ok ? hooks.onAck(step, sentUs) : hooks.onError(step, "peer_error")),
        () => hooks.onError(step, "socket_closed")
      ),
    close: () => {
      ws.send("41")
      ws.close()
    }
  }
  return withTimeout(
    ws.upgraded.then(() => join).then(() => conn),
    "connect+join",
    () => ws.terminate()
  )
}

export const adapters: Record<Protocol, () => Promise<Connect>> = {
  ours: async () => ours,
  // bench/peers/leanPg.ts speaks the part of our protocol the load uses.
  lean: async () => ours,
  rawws: async () => rawws,
  socketio: async () => socketio
}
