/** Node adapter: @hono/node-server for HTTP, @hono/node-ws (the `ws` package) for WebSockets. */
import { serve } from "@hono/node-server"
import { createNodeWebSocket } from "@hono/node-ws"
import { Effect } from "effect"
import type { Hono } from "hono"
import type { Server } from "node:http"
import type { Socket } from "node:net"
import type { Duplex } from "node:stream"
import type { WebSocket } from "ws"
import type { Platform } from "./types.ts"

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
const sendCorked = (ws: WebSocket, text: string) => {
  const socket = socketOf(ws)
  if (socket === undefined || socket.writableCorked > 0) {
    ws.send(text)
  } else {
    socket.cork()
    corked.push(socket)
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flushCorked)
    }
    ws.send(text)
  }
  // A large burst (a replay page) goes out now rather than piling up until the turn ends.
  if (socket !== undefined && socket.writableCorked > 0 && socket.writableLength > CORK_FLUSH_BYTES) {
    while (socket.writableCorked > 0) socket.uncork()
  }
}

export const makeNodePlatform = (): Platform => {
  // node-ws needs the app only when an upgrade arrives; the app needs upgradeWebSocket
  // to be built. This indirection breaks the cycle.
  let target: Hono<any> | undefined
  const proxy = { request: (...args: Parameters<Hono["request"]>) => target!.request(...args) } as unknown as Hono
  const nodeWs = createNodeWebSocket({ app: proxy })
  return {
    name: "node",
    upgradeWebSocket: nodeWs.upgradeWebSocket,
    linkOf: (ctx) => {
      const ws = ctx.raw as WebSocket
      return {
        send: (text) => sendCorked(ws, text),
        close: (code, reason) => ws.close(code, reason),
        bufferedAmount: () => ws.bufferedAmount
      }
    },
    serve: (app, options) =>
      Effect.acquireRelease(
        Effect.async<{ server: Server; port: number }, Error>((resume) => {
          target = app
          // ws reads this option per upgrade; the app enforces the documented (smaller) limit.
          ;(nodeWs.wss.options as { maxPayload?: number }).maxPayload = options.maxPayloadBytes
          const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, (info) =>
            resume(Effect.succeed({ server: server as Server, port: info.port }))
          ) as Server
          server.once("error", (e) => resume(Effect.fail(e)))
          server.on("upgrade", guardUpgradeSocket)
          nodeWs.injectWebSocket(server)
        }),
        ({ server }) =>
          Effect.async<void>((resume) => {
            for (const client of nodeWs.wss.clients) client.terminate()
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
