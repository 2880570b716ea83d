/** Node adapter: @hono/node-server for HTTP, @hono/node-ws (the `ws` package) for WebSockets. */
import { makeNodeHttp2Client } from "./http2.node.ts"
import { serve } from "@hono/node-server"
import { createNodeWebSocket } from "@hono/node-ws"
import { Effect } from "effect"
import type { Context, Hono, Next } from "hono"
import type { UpgradeWebSocket, WSContext, WSEvents } from "hono/ws"
import type { Buffer } from "node:buffer"
import type { Server } from "node:http"
import type { Socket } from "node:net"
import { PerformanceObserver } from "node:perf_hooks"
import process from "node:process"
import type { Duplex } from "node:stream"
import type { WebSocket } from "ws"
import type { SocketLink } from "../http/ws/Session.ts"
import { textFrame } from "./wsFrame.ts"
import { ServeError, type Platform } from "./types.ts"

/**
 * Node removes its own error listener from a socket it hands to "upgrade" listeners, and
 * @hono/node-ws awaits the app (authentication) before `ws` adds one: a client that resets
 * in between was an uncaught ECONNRESET that took the process down. Registered before
 * node-ws's listener; one shared no-op, so it costs nothing per socket (`ws` handles errors
 * of upgraded sockets itself).
 */
const ignoreSocketError = () => {}
const guardUpgradeSocket = (_request: unknown, socket: Duplex) => {
  socket.on("error", ignoreSocketError)
}

/**
 * Corking: every frame sent to one socket in one turn of the event loop goes out in one
 * write system call. A socket is corked on its first send of the turn and all are uncorked
 * together by one setImmediate. On this machine a socket write costs ~45 µs of system time,
 * and a committed batch often sends several frames to one socket (events, then acks).
 * `ws` does not expose its socket: `_socket` is its internal field, checked before use.
 */
const CORK_FLUSH_BYTES = 64 * 1024
const corked: Array<Socket> = []
let flushScheduled = false
const flushCorked = () => {
  flushScheduled = false
  for (const socket of corked.splice(0)) socket.uncork()
}
const socketOf = (ws: WebSocket): Socket | undefined => {
  const socket = (ws as unknown as { _socket?: Socket })._socket
  return socket !== undefined && typeof socket.cork === "function" ? socket : undefined
}
const corkForTurn = (socket: Socket) => {
  if (socket.writableCorked > 0) return
  socket.cork()
  corked.push(socket)
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flushCorked)
  }
}
// A large burst (a replay page) goes out now rather than piling up until the turn ends.
const flushIfLarge = (socket: Socket) => {
  if (socket.writableCorked > 0 && socket.writableLength > CORK_FLUSH_BYTES) {
    while (socket.writableCorked > 0) socket.uncork()
  }
}

/**
 * The last text framed, and its frame: a committed event is sent to each of a room's local
 * subscribers one after the other with the same string, so it is framed once (see
 * ./wsFrame.ts). Large frames are not kept.
 */
const FRAME_CACHE_MAX_BYTES = 16 * 1024
let lastText: string | undefined
let lastFrame: Buffer | undefined
const framed = (text: string): Buffer => {
  if (text === lastText) return lastFrame!
  const frame = textFrame(text)
  if (frame.length <= FRAME_CACHE_MAX_BYTES) {
    lastText = text
    lastFrame = frame
  }
  return frame
}

const OPEN = 1

/**
 * A text frame to a socket. While the socket is open and no extension was negotiated (the
 * server does not offer permessage-deflate, so none is), it is written to the socket as one
 * framed buffer, the bytes `ws` would write; otherwise (closing, or an extension) it goes
 * through `ws.send`, which also gives a send after close the behaviour `ws` defines.
 */
const sendText = (ws: WebSocket, plain: boolean, text: string): void => {
  const socket = socketOf(ws)
  if (socket === undefined) {
    ws.send(text)
    return
  }
  corkForTurn(socket)
  if (plain && ws.readyState === OPEN) socket.write(framed(text))
  else ws.send(text)
  flushIfLarge(socket)
}

/**
 * node-ws's handler keeps the context it is called with for as long as its per-socket closures
 * live (they share the handler's scope). `DirectEvents` below removes them a microtask after
 * the socket opens; the stand-in still matters until then, and for any listener a later
 * node-ws adds on an event other than message, close and error. Hono's context holds the request:
 * a Request, its Headers and URL, and Node's IncomingMessage. A heap snapshot put that at
 * about 6 KB per idle connection. So the route's middleware here calls node-ws with a
 * stand-in that has only what node-ws reads: the Upgrade header, the URL, and `env`, the
 * object node-ws and its upgrade listener share. node-ws takes what it needs from `env`
 * synchronously, before its first await, so the stand-in lets go of it (and of the
 * IncomingMessage in it) right after the call. A plain object with no accessor and no
 * per-socket function: V8 keeps an object literal with a getter as a dictionary (~250 bytes
 * more per socket). The events are created from the real context, as Hono would.
 * This leans on what @hono/node-ws 1.3 reads from its context; if an upgrade of it reads
 * more, tests/e2e (every WebSocket test) fails, and tests/e2e/upgradeMemory.test.ts checks
 * that the request is still let go.
 */
const upgradeHeader = (name: string) => (name.toLowerCase() === "upgrade" ? "websocket" : undefined)

/**
 * A socket's events straight from `ws`, after node-ws has done the upgrade. node-ws keeps,
 * for every socket's life, a context object (with a getter, so V8 keeps it as a dictionary),
 * a URL of the request, and seven closures for its listeners: about 1.3 KB per idle
 * connection in a heap snapshot (bench/README.md). And for every incoming message it builds
 * a DOM `MessageEvent` (an Event with its own timestamp and internal fields, about 250 bytes
 * and a microsecond) before calling `onMessage`, which reads only `data`.
 *
 * So node-ws gets a `DirectEvents`, whose `onOpen` adds three listeners shared by every
 * socket (message, close, error: each finds the socket's `DirectEvents` under a symbol on
 * the socket) and gives the app itself as the socket's context: a class instance, its
 * methods and getters on the prototype. node-ws's own listeners, added right after `onOpen`
 * returns, call `DirectEvents` methods that do nothing (no `onMessage` at all, so node-ws
 * builds no event per message), and a microtask removes them, which lets go of its context
 * and closures. node-ws calls `onOpen` right after it registers its buffering listener,
 * with no I/O between, so no message can reach node-ws's listeners first; and `ws` always
 * has an error listener (ours), which it needs: an `error` event with none would throw.
 * Thrown errors go where node-ws sends them. `url` is null: nothing here reads it, and
 * keeping it would keep the request's URL (with its query) for the socket's life.
 */
const appEvents = Symbol("chat.appEvents")
type OnError = (error: unknown) => void
type Listener = (...args: Array<any>) => void
const targetOf = (ws: WebSocket): DirectEvents => (ws as unknown as { [appEvents]: DirectEvents })[appEvents]
function onRawMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const target = targetOf(this)
  try {
    // The server keeps ws's default binaryType ("nodebuffer"): a message is one Buffer.
    target.events.onMessage!({ data: isBinary ? data : data.toString("utf8") } as MessageEvent<any>, target as unknown as WSContext<any>)
  } catch (error) {
    target.report(error)
  }
}
function onRawClose(this: WebSocket, code: number, reason: Buffer): void {
  const target = targetOf(this)
  target.closed(this)
  try {
    const evt = { type: "close", code, reason: reason.toString("utf8") }
    target.events.onClose?.(evt as unknown as CloseEvent, target as unknown as WSContext<any>)
  } catch (error) {
    target.report(error)
  }
}
function onRawError(this: WebSocket, error: Error): void {
  const target = targetOf(this)
  try {
    target.events.onError?.({ type: "error", error } as unknown as Event, target as unknown as WSContext<any>)
  } catch (e) {
    target.report(e)
  }
}
const OWN: ReadonlyArray<readonly [string, Listener]> = [
  ["message", onRawMessage],
  ["close", onRawClose],
  ["error", onRawError]
]
/**
 * Removes the listeners added to `ws` since `known` was taken (node-ws's, after `onOpen`),
 * one by one: an event left with one listener keeps it as a function, not a list (EventEmitter
 * unwraps a list of one), which is what an idle socket should hold.
 */
const dropAddedListeners = (ws: WebSocket, known: ReadonlyArray<Listener>) => {
  for (const [name] of OWN) {
    for (const listener of ws.listeners(name) as Array<Listener>) {
      if (!known.includes(listener)) ws.removeListener(name, listener)
    }
  }
}
class DirectEvents implements SocketLink {
  ws: WebSocket | undefined = undefined
  /** No extension negotiated (see sendText); known at open. */
  private plain = false
  constructor(
    readonly events: WSEvents<any>,
    readonly report: OnError,
    private readonly open: Set<WebSocket>
  ) {}
  onOpen(evt: Event, nodeWsContext: WSContext<any>): void {
    const ws = nodeWsContext.raw as WebSocket
    this.ws = ws
    this.plain = ws.extensions === ""
    this.open.add(ws)
    // `ws` has its own error listener on the socket now: the guard's is no longer needed,
    // and without it the socket's `error` entry is one function, not a list (64 bytes).
    socketOf(ws)?.removeListener("error", ignoreSocketError)
    ;(ws as unknown as { [appEvents]: DirectEvents })[appEvents] = this
    const known: Array<Listener> = []
    for (const [name, listener] of OWN) {
      ws.on(name, listener)
      known.push(...(ws.listeners(name) as Array<Listener>))
    }
    queueMicrotask(() => dropAddedListeners(ws, known))
    this.events.onOpen?.(evt, this as unknown as WSContext<any>)
  }
  // Called by node-ws's listeners until they are removed: ours above forward the events.
  onClose(): void {}
  onError(): void {}
  // The socket's context as the app sees it (hono/ws WSContext).
  get raw(): WebSocket | undefined {
    return this.ws
  }
  get readyState(): number {
    return this.ws!.readyState
  }
  get protocol(): string | null {
    return this.ws!.protocol
  }
  get binaryType(): string {
    return "arraybuffer"
  }
  get url(): URL | null {
    return null
  }
  /**
   * The app's send (WSContext) and the session's (SocketLink) in one: a string goes out as
   * sendText sends it; anything else, or with options, through `ws.send`.
   */
  send(source: string | ArrayBuffer | Uint8Array, options?: { compress?: boolean }): void {
    if (typeof source === "string" && options === undefined) sendText(this.ws!, this.plain, source)
    else this.ws!.send(source, { compress: options?.compress })
  }
  close(code?: number, reason?: string): void {
    this.ws!.close(code, reason)
  }
  bufferedAmount(): number {
    return this.ws!.bufferedAmount
  }
  /** The socket closed: called by onRawClose before the app hears of it. */
  closed(ws: WebSocket): void {
    this.open.delete(ws)
  }
}
const direct = (events: WSEvents<any>, options: unknown, open: Set<WebSocket>): WSEvents<any> =>
  new DirectEvents(events, (options as { onError?: OnError } | undefined)?.onError ?? console.error, open) as unknown as WSEvents<any>

const lightUpgrade = (upgrade: UpgradeWebSocket<any>, open: Set<WebSocket>): UpgradeWebSocket<any> =>
  ((createEvents: (c: Context) => WSEvents<any> | Promise<WSEvents<any>>, options?: unknown) =>
    async (c: Context, next: Next) => {
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return next()
      const events = direct(await createEvents(c), options, open)
      const standIn: { req: { url: string; header: typeof upgradeHeader }; env: unknown } = {
        req: { url: c.req.url, header: upgradeHeader },
        env: c.env
      }
      const upgraded = (upgrade as unknown as (c: unknown, e: unknown, o: unknown) => Promise<Response>)(
        standIn,
        events,
        options
      )
      standIn.env = undefined
      return await upgraded
    }) as unknown as UpgradeWebSocket<any>

// GC pauses, summed from the "gc" performance entries; observed once per process.
let gcPauseMs = 0
let gcObserved = false
const observeGc = () => {
  if (gcObserved) return
  gcObserved = true
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauseMs += entry.duration
  })
  observer.observe({ entryTypes: ["gc"] })
}

export const makeNodePlatform = (): Platform => {
  observeGc()
  // node-ws needs the app only when an upgrade arrives; the app needs upgradeWebSocket
  // to be built. This indirection breaks the cycle.
  let target: Hono<any> | undefined
  const proxy = { request: (...args: Parameters<Hono["request"]>) => target!.request(...args) } as unknown as Hono
  const nodeWs = createNodeWebSocket({ app: proxy })
  // The open sockets, to end them when the server stops. ws's own client tracking (a Set
  // too) is turned off: it adds a closure and its scope to every socket, as a second close
  // listener, which also makes the socket's close entry a list (about 0.1 KB per idle
  // connection, heap snapshots). node-ws builds its WebSocketServer with the default
  // (tracking on) and no way to pass options; ws 8 reads `clients` only where it tracks.
  const open = new Set<WebSocket>()
  const wss = nodeWs.wss as unknown as { clients: Set<WebSocket> | undefined; options: { clientTracking?: boolean } }
  wss.clients = undefined
  wss.options.clientTracking = false
  return {
    name: "node",
    runtimeStats: () => {
      const m = process.memoryUsage()
      return { heapUsedBytes: m.heapUsed, residentBytes: m.rss, gcPauseSeconds: gcPauseMs / 1000 }
    },
    makeHttp2Client: makeNodeHttp2Client,
    upgradeWebSocket: lightUpgrade(nodeWs.upgradeWebSocket, open),
    // The socket's context is its DirectEvents (every socket opens through lightUpgrade),
    // which is also its link: no object of its own per socket, and no closures (a class).
    linkOf: (ctx) => {
      if (!(ctx instanceof DirectEvents)) throw new TypeError("not a socket opened by this platform")
      return ctx
    },
    serve: (app, options) =>
      Effect.acquireRelease(
        Effect.async<{ server: Server; port: number }, ServeError>((resume) => {
          target = app
          // ws reads this option per upgrade; the app enforces the documented (smaller) limit.
          ;(nodeWs.wss.options as { maxPayload?: number }).maxPayload = options.maxPayloadBytes
          const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, (info) =>
            resume(Effect.succeed({ server: server as Server, port: info.port }))
          ) as Server
          server.once("error", (cause) => resume(Effect.fail(new ServeError({ cause }))))
          server.on("upgrade", guardUpgradeSocket)
          nodeWs.injectWebSocket(server)
        }),
        ({ server }) =>
          Effect.async<void>((resume) => {
            for (const client of [...open]) client.terminate()
            server.close(() => resume(Effect.void))
            server.closeAllConnections?.()
          })
      ).pipe(
        Effect.map(({ server, port }) => ({
          port,
          stopAccepting: Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            // Idle keep-alive HTTP connections would hold close() open.
            server.closeIdleConnections?.()
          })
        }))
      )
  }
}
