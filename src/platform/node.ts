/** Node adapter: @hono/node-server for HTTP, @hono/node-ws (the `ws` package) for WebSockets. */
import { serve } from "@hono/node-server"
import { createNodeWebSocket } from "@hono/node-ws"
import { Effect } from "effect"
import type { Hono } from "hono"
import type { Server } from "node:http"
import type { WebSocket } from "ws"
import type { Platform } from "./types.ts"

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
        send: (text) => ws.send(text),
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
