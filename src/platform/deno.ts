/** Deno adapter: Deno.serve for HTTP, Deno.upgradeWebSocket (through hono/deno) for WebSockets. */
import { makeNodeHttp2Client } from "./http2.node.ts"
import { Effect } from "effect"
import { upgradeWebSocket } from "hono/deno"
import type { Platform } from "./types.ts"

export const makeDenoPlatform = (): Platform => {
  // Sockets still open at scope close are closed on release, as the Node adapter terminates
  // its ws clients: the server would otherwise wait for them.
  const open = new Set<WebSocket>()
  return {
    name: "deno",
    // Deno reports no GC pauses to JavaScript.
    runtimeStats: () => {
      const m = Deno.memoryUsage()
      return { heapUsedBytes: m.heapUsed, residentBytes: m.rss, gcPauseSeconds: 0 }
    },
    // Deno runs node:http2's client through its Node compatibility layer.
    makeHttp2Client: makeNodeHttp2Client,
    // Deno.upgradeWebSocket has no max-payload option (2.9: protocol, idleTimeout, socket,
    // head), so `maxPayloadBytes` has no transport backstop here: the runtime's own fixed
    // message cap applies, and the app's limit (maxFrameBytes, close 1008) is the one that counts.
    upgradeWebSocket,
    linkOf: (ctx) => {
      const ws = ctx.raw as WebSocket
      open.add(ws)
      ws.addEventListener("close", () => open.delete(ws))
      return {
        send: (text) => ws.send(text),
        close: (code, reason) => ws.close(code, reason),
        bufferedAmount: () => ws.bufferedAmount
      }
    },
    serve: (app, options) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            const abort = new AbortController()
            // Binds synchronously (a taken port throws here); port 0 picks a free one. The
            // no-op onListen keeps Deno's plain-text banner out of the JSON log stream.
            const server = Deno.serve(
              { port: options.port, hostname: options.host, signal: abort.signal, onListen: () => {} },
              app.fetch
            )
            // Either a graceful shutdown or an abort, once: aborting a server that was
            // already shut down throws BadResource.
            let closing: Promise<void> | undefined
            const stop = (how: "shutdown" | "abort") =>
              (closing ??= how === "shutdown" ? server.shutdown() : (abort.abort(), server.finished))
            return { port: server.addr.port, stop }
          },
          catch: (e) => e
        }),
        ({ stop }) =>
          Effect.promise(() => {
            for (const ws of open) ws.close(1001, "server shutting down")
            return stop("abort")
          })
      ).pipe(
        Effect.map(({ port, stop }) => ({
          port,
          // Graceful: refuses new connections, lets requests in flight finish.
          stopAccepting: Effect.promise(() => stop("shutdown"))
        }))
      )
  }
}
