/**
 * The bench's WebSocket client (bench/client/wsLite.ts) against a real `ws` server in this
 * process, its frame reader fed reads cut at every place, and a TCP server that breaks the protocol.
 */
import { once } from "node:events"
import { createServer, type AddressInfo, type Server, type Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { WebSocketServer, type WebSocket } from "ws"
import { frameReader, openLite, type LiteHandlers } from "../../bench/client/wsLite.ts"

const servers: Array<{ close: () => void }> = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

const wsServer = async (onConnection: (ws: WebSocket, headers: Record<string, string | string[] | undefined>) => void) => {
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: false,
    maxPayload: 1 << 20,
    verifyClient: (info, done) => (info.req.headers.authorization === "Bearer no" ? done(false, 401) : done(true))
  })
  servers.push({ close: () => wss.close() })
  await once(wss, "listening")
  wss.on("connection", (ws, req) => onConnection(ws, req.headers))
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws?x=1`
}

/** Collects every message as a string (copied out of the shared read buffer) and the close. */
const collector = () => {
  const messages: Array<string> = []
  let closes = 0
  let waiting: { count: number; resolve: () => void } | undefined
  let closed: () => void = () => undefined
  const closedP = new Promise<void>((r) => (closed = r))
  const handlers: LiteHandlers = {
    message: (b, s, e) => {
      messages.push(b.toString("utf8", s, e))
      if (waiting !== undefined && messages.length >= waiting.count) waiting.resolve()
    },
    close: () => {
      closes++
      closed()
    }
  }
  return {
    handlers,
    messages,
    closes: () => closes,
    closed: closedP,
    until: (count: number) =>
      messages.length >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { count, resolve }))
  }
}

describe("bench wsLite client", () => {
  it("upgrades with the given headers, path and query; a refusal rejects with the HTTP status", async () => {
    let seen: Record<string, string | string[] | undefined> = {}
    const url = await wsServer((ws, headers) => {
      seen = headers
      ws.send("hi")
    })
    const c = collector()
    const sock = openLite(url, { headers: { authorization: "Bearer yes" } }, c.handlers)
    await sock.upgraded
    await c.until(1)
    expect(c.messages).toEqual(["hi"])
    expect(seen.authorization).toBe("Bearer yes")
    sock.terminate()
    await c.closed

    const refused = openLite(url, { headers: { authorization: "Bearer no" } }, collector().handlers)
    await expect(refused.upgraded).rejects.toThrow("HTTP 401 on upgrade")
  })

  it("receives messages of every length form byte for byte, in order, many to a read", async () => {
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 300_000]
    const bodies = sizes.map((n, i) => "é".repeat(Math.floor(n / 2)) + String.fromCharCode(97 + i).repeat(n % 2))
    const url = await wsServer((ws) => {
      // Small frames sent in one go land in one read; the large ones span several.
      for (let k = 0; k < 50; k++) ws.send(`small ${k}`)
      for (const b of bodies) ws.send(b)
    })
    const c = collector()
    const sock = openLite(url, {}, c.handlers)
    await c.until(50 + bodies.length)
    expect(c.messages.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, k) => `small ${k}`))
    expect(c.messages.slice(50).map((m) => Buffer.byteLength(m))).toEqual(bodies.map((b) => Buffer.byteLength(b)))
    expect(c.messages.slice(50)).toEqual(bodies)
    sock.terminate()
  })

  it("sends text frames the server reads as sent, of every length form", async () => {
    const got: Array<string> = []
    let all: () => void = () => undefined
    const done = new Promise<void>((r) => (all = r))
    const texts = ["a", "ü".repeat(70), "x".repeat(126), "y".repeat(70_000)]
    const url = await wsServer((ws) =>
      ws.on("message", (data: Buffer, isBinary) => {
        expect(isBinary).toBe(false)
        got.push(data.toString())
        if (got.length === texts.length) all()
      })
    )
    const sock = openLite(url, {}, collector().handlers)
    await sock.upgraded
    const written = await Promise.all(texts.map((t) => new Promise<unknown>((r) => sock.send(t, r))))
    await done
    expect(got).toEqual(texts)
    expect(written.every((e) => e === undefined || e === null)).toBe(true)
    sock.terminate()
  })

  it("joins a fragmented message, answers a ping with its payload, and closes with 1000", async () => {
    let pong: Buffer | undefined
    let closeCode: number | undefined
    let serverClosed: () => void = () => undefined
    const serverSawClose = new Promise<void>((r) => (serverClosed = r))
    const url = await wsServer((ws) => {
      ws.on("pong", (data) => (pong = data))
      ws.on("close", (code) => {
        closeCode = code
        serverClosed()
      })
      ws.ping(Buffer.from("are you there"))
      ws.send("part one, ", { fin: false })
      ws.send("part two, ", { fin: false })
      ws.send("end", { fin: true })
      ws.send("next")
    })
    const c = collector()
    const sock = openLite(url, {}, c.handlers)
    await c.until(2)
    expect(c.messages).toEqual(["part one, part two, end", "next"])
    sock.close()
    await serverSawClose
    await c.closed
    expect(pong?.toString()).toBe("are you there")
    expect(closeCode).toBe(1000)
    expect(c.closes()).toBe(1)
  })

  it("reports the server's close once", async () => {
    const url = await wsServer((ws) => ws.close(4001, "bye"))
    const c = collector()
    const sock = openLite(url, {}, c.handlers)
    await sock.upgraded
    await c.closed
    expect(c.closes()).toBe(1)
    // Sending on a closed socket reports an error instead of throwing.
    const err = await new Promise<unknown>((r) => sock.send("late", r))
    expect(err).toBeInstanceOf(Error)
  })

  it("cuts frames out of reads split at every byte, through one reused read buffer", () => {
    const long = "z".repeat(200)
    const huge = "h".repeat(70_000)
    const stream = Buffer.concat([
      Buffer.from([0x81, 5]),
      Buffer.from("hello"),
      Buffer.from([0x89, 2]),
      Buffer.from("pi"),
      Buffer.from([0x81, 126, 0, 200]),
      Buffer.from(long),
      Buffer.from([0x01, 3]),
      Buffer.from("abc"),
      Buffer.from([0x80, 3]),
      Buffer.from("def"),
      Buffer.from([0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]),
      Buffer.from(huge),
      Buffer.from([0x88, 2, 0x03, 0xe8]),
      // Nothing after a close frame is read.
      Buffer.from([0x81, 4]),
      Buffer.from("gone")
    ])
    const expected = ["hello", long, "abcdef", huge]
    // Reads land in one buffer the next read overwrites, as the socket's `onread` buffer does.
    const shared = Buffer.alloc(stream.length + 16)
    const feed = (cuts: Array<number>) => {
      const messages: Array<string> = []
      const pings: Array<string> = []
      const closes: Array<Array<number>> = []
      const read = frameReader({
        message: (b, s, e) => messages.push(b.toString("utf8", s, e)),
        ping: (p) => pings.push(p.toString()),
        close: (code) => closes.push([...code]),
        fail: (e) => {
          throw e
        }
      })
      let from = 0
      for (const to of [...cuts, stream.length]) {
        shared.fill(0x55)
        stream.copy(shared, 3, from, to)
        read(shared, 3, 3 + to - from)
        from = to
      }
      expect(messages).toEqual(expected)
      expect(pings).toEqual(["pi"])
      expect(closes).toEqual([[0x03, 0xe8]])
    }
    feed([])
    for (let k = 1; k < stream.length; k += k < 300 ? 1 : 997) feed([k])
    feed(Array.from({ length: 400 }, (_, k) => k + 1))
  })

  it("drops the connection on a protocol error: a continuation without a start, an unknown opcode", () => {
    for (const bytes of [[0x80, 1, 0x61], [0x83, 0], [0x01, 1, 0x61, 0x81, 1, 0x62]]) {
      const errors: Array<string> = []
      const messages: Array<string> = []
      const read = frameReader({
        message: (b, s, e) => messages.push(b.toString("utf8", s, e)),
        ping: () => undefined,
        close: () => undefined,
        fail: (e) => errors.push(e.message)
      })
      read(Buffer.from([...bytes, 0x81, 1, 0x7a]), 0, bytes.length + 3)
      expect(errors).toHaveLength(1)
      expect(messages).toEqual([])
    }
  })

  it("refuses a masked server frame by dropping the connection", async () => {
    const server: Server = createServer(async (socket: Socket) => {
      await once(socket, "data")
      socket.write("HTTP/1.1 101 Switching Protocols\r\n\r\n")
      socket.write(Buffer.from([0x81, 0x80 | 2, 0, 0, 0, 0, 0x68, 0x69]))
    })
    servers.push({ close: () => server.close() })
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    const c = collector()
    const sock = openLite(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, {}, c.handlers)
    await sock.upgraded
    await c.closed
    expect(c.messages).toEqual([])
  })
})
