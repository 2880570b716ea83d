/**
 * The bench's own WebSocket client: just what a load client needs, on a bare `net` socket.
 *
 * Written here rather than taken from `ws` because of what a delivery costs the client. In the
 * fan-out scenario (20 rooms of 100) every connection gets a frame on its own read, and
 * through `ws` each one passed a Readable push, a Writable write, the receiver's loop and two
 * event emits before the adapter saw it: the two client processes ran out of CPU before the
 * servers did (BENCHMARKS.md: every fan-out run stopped client-limited, raw `ws` included), so
 * the scenario measured the clients. Here a read lands in one buffer shared by every socket of
 * the process (`onread`), frames are cut out of it in place, and the adapter gets the bytes
 * of each message without a copy or a stream in between.
 *
 * What it does not do, because no server under test asks for it: extensions (permessage-
 * deflate is off in every server's client options), subprotocols, redirects, checking
 * Sec-WebSocket-Accept (loopback, our own servers). Fragmented messages, ping, pong and close
 * are handled as RFC 6455 says.
 */
import { randomBytes } from "node:crypto"
import { connect, type Socket } from "node:net"

export interface LiteHandlers {
  /**
   * One whole message, its payload in `data[start, end)`. The bytes belong to a buffer the next
   * read overwrites: use them during the call, copy what must be kept.
   */
  readonly message: (data: Buffer, start: number, end: number) => void
  /** The connection ended after the upgrade, whoever ended it. Called once. */
  readonly close: () => void
}

export interface LiteSocket {
  /** Settles once the server answered the upgrade: 101, or anything else (rejected), or an error before it. */
  readonly upgraded: Promise<void>
  /** Sends one text frame; `done` gets the socket's write error, if any. */
  readonly send: (text: string, done?: (err?: Error | null) => void) => void
  /** Close handshake: a close frame, then the socket ends. */
  readonly close: () => void
  /** Drops the connection at once (no close frame). */
  readonly terminate: () => void
}

/** Every socket of the process reads into this one buffer; reads are handled synchronously. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)
const HEADER_END = Buffer.from("\r\n\r\n")
const MAX_HEADER_BYTES = 16 * 1024

const OP_CONTINUATION = 0x0
const OP_TEXT = 0x1
const OP_BINARY = 0x2
const OP_CLOSE = 0x8
const OP_PING = 0x9
const OP_PONG = 0xa

/**
 * A client frame. The RFC asks clients to mask with an unpredictable key, to protect proxies
 * from a browser script's crafted bytes; a load generator on loopback has no such script, and
 * an all-zero key leaves the payload as it is (`ws` lets a caller pick its mask the same way,
 * `generateMask`). Servers only check that the mask bit is set.
 */
const frame = (opcode: number, payload: string | Buffer): Buffer => {
  const n = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length
  const h = n < 126 ? 6 : n < 65536 ? 8 : 14
  const out = Buffer.allocUnsafe(h + n)
  out[0] = 0x80 | opcode
  if (n < 126) out[1] = 0x80 | n
  else if (n < 65536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(n, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2)
    out.writeUInt32BE(n >>> 0, 6)
  }
  out.fill(0, h - 4, h)
  if (typeof payload === "string") out.write(payload, h)
  else payload.copy(out, h)
  return out
}

export interface FrameSink {
  /** As LiteHandlers.message. */
  readonly message: (data: Buffer, start: number, end: number) => void
  /** A ping's payload (a copy), to be echoed in a pong. */
  readonly ping: (payload: Buffer) => void
  /** The server's close frame; `code` holds its status code (a copy, empty when it sent none). */
  readonly close: (code: Buffer) => void
  /** A protocol error: the connection must be dropped. */
  readonly fail: (e: Error) => void
}

/**
 * Cuts the bytes after the upgrade into messages. Each call hands over b[o, end), a read that
 * the next read may overwrite: an unfinished frame at its end is copied and joined to the next.
 * After a close frame or an error, nothing more is read.
 */
export const frameReader = (sink: FrameSink) => {
  /** An unfinished frame from the last read. */
  let carry: Buffer | undefined
  /** Payloads of a fragmented message so far. */
  let fragments: Array<Buffer> | undefined
  let done = false

  const stop = (e?: Error) => {
    done = true
    carry = undefined
    if (e !== undefined) sink.fail(e)
  }

  return (buf: Buffer, from: number, to: number): void => {
    if (done) return
    let b = buf
    let o = from
    let end = to
    if (carry !== undefined) {
      b = Buffer.concat([carry, buf.subarray(from, to)])
      o = 0
      end = b.length
      carry = undefined
    }
    while (end - o >= 2) {
      const b0 = b[o]
      const b1 = b[o + 1]
      if ((b1 & 0x80) !== 0) return stop(new Error("server frame is masked"))
      let len = b1 & 0x7f
      let h = 2
      if (len === 126) {
        if (end - o < 4) break
        len = b.readUInt16BE(o + 2)
        h = 4
      } else if (len === 127) {
        if (end - o < 10) break
        len = b.readUInt32BE(o + 2) * 2 ** 32 + b.readUInt32BE(o + 6)
        h = 10
      }
      if (end - o < h + len) break
      const start = o + h
      const stopAt = start + len
      const op = b0 & 0x0f
      const fin = (b0 & 0x80) !== 0
      o = stopAt
      if (op === OP_TEXT || op === OP_BINARY) {
        if (fragments !== undefined) return stop(new Error("new message inside a fragmented one"))
        if (fin) sink.message(b, start, stopAt)
        else fragments = [Buffer.from(b.subarray(start, stopAt))]
      } else if (op === OP_CONTINUATION) {
        if (fragments === undefined) return stop(new Error("continuation frame without a first fragment"))
        fragments.push(Buffer.from(b.subarray(start, stopAt)))
        if (fin) {
          const whole = Buffer.concat(fragments)
          fragments = undefined
          sink.message(whole, 0, whole.length)
        }
      } else if (op === OP_PING) sink.ping(Buffer.from(b.subarray(start, stopAt)))
      else if (op === OP_CLOSE) {
        stop()
        return sink.close(Buffer.from(b.subarray(start, Math.min(stopAt, start + 2))))
      } else if (op !== OP_PONG) return stop(new Error(`unknown opcode ${op}`))
      if (done) return
    }
    if (o < end) carry = Buffer.from(b.subarray(o, end))
  }
}

export interface LiteOptions {
  readonly headers?: Record<string, string>
  readonly localAddress?: string
}

/** Connects and asks for the upgrade at once; `upgraded` tells how that went. */
export const openLite = (url: string, options: LiteOptions, handlers: LiteHandlers): LiteSocket => {
  const u = new URL(url)
  if (u.protocol !== "ws:") throw new Error(`wsLite speaks ws: only, not ${u.protocol}`)
  let resolve!: () => void
  let reject!: (e: Error) => void
  const upgraded = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Nobody may be waiting yet when an early error rejects it.
  upgraded.catch(() => undefined)
  let isUpgraded = false
  let closed = false
  /** Bytes of an unfinished upgrade answer, carried to the next read. */
  let carry: Buffer | undefined

  const fail = (e: Error) => {
    if (!isUpgraded) reject(e)
    socket.destroy()
  }

  const read = frameReader({
    message: handlers.message,
    ping: (payload) => socket.write(frame(OP_PONG, payload)),
    // Echo the server's status code, then let it close the TCP connection.
    close: (code) => socket.end(frame(OP_CLOSE, code)),
    fail
  })

  const onRead = (n: number, buf: Buffer): boolean => {
    if (isUpgraded) {
      if (!closed) read(buf, 0, n)
      return true
    }
    let b = buf
    let end = n
    if (carry !== undefined) {
      b = Buffer.concat([carry, buf.subarray(0, n)])
      end = b.length
      carry = undefined
    }
    const at = b.indexOf(HEADER_END)
    // The shared buffer holds older reads past `end`: a match must lie wholly before it.
    if (at < 0 || at + HEADER_END.length > end) {
      if (end > MAX_HEADER_BYTES) fail(new Error("upgrade answer has no end of headers"))
      else carry = Buffer.from(b.subarray(0, end))
      return true
    }
    const status = b.toString("latin1", 0, Math.min(at, 64)).split("\r\n")[0]
    const code = Number(status.split(" ")[1])
    if (code !== 101) {
      fail(new Error(`HTTP ${code} on upgrade`))
      return false
    }
    isUpgraded = true
    resolve()
    read(b, at + HEADER_END.length, end)
    return true
  }

  const socket: Socket = connect({
    host: u.hostname,
    port: Number(u.port || 80),
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    onread: { buffer: READ_BUFFER, callback: onRead }
  })
  socket.setNoDelay(true)
  socket.once("connect", () => {
    const extra = Object.entries(options.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")
    socket.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
    )
  })
  socket.on("error", (e) => {
    if (!isUpgraded) reject(e)
    // After the upgrade, "close" follows and reports the end.
  })
  socket.once("close", () => {
    closed = true
    if (isUpgraded) handlers.close()
    else reject(new Error("closed before the upgrade"))
  })

  return {
    upgraded,
    send: (text, done) => {
      if (closed || socket.destroyed) {
        done?.(new Error("socket closed"))
        return
      }
      socket.write(frame(OP_TEXT, text), done)
    },
    close: () => {
      if (closed || socket.destroyed) return
      const code = Buffer.allocUnsafe(2)
      code.writeUInt16BE(1000, 0)
      socket.end(frame(OP_CLOSE, code))
    },
    terminate: () => socket.destroy()
  }
}
