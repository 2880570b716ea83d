/**
 * Where the Connect services are served:
 * - on the main port, through the Hono app: Connect and gRPC-Web over HTTP/1.1, with the
 *   fetch-style universal handler of @connectrpc/connect (runs on Node and Deno alike);
 * - on Node, optionally, gRPC over HTTP/2 (cleartext, h2c) on a port of its own
 *   (CHAT_GRPC_PORT), with @connectrpc/connect-node.
 */
import { createConnectRouter, type ConnectRouter } from "@connectrpc/connect"
import { createFetchHandler } from "@connectrpc/connect/protocol"
import { Effect, type Scope } from "effect"
import type { Hono } from "hono"

export interface ConnectOptions {
  /** Largest request message, bytes. */
  readonly readMaxBytes: number
}

/** Registers every service on a router (the same function serves both listeners). */
export type RegisterServices = (router: ConnectRouter) => void

export const makeRouter = (register: RegisterServices, options: ConnectOptions): ConnectRouter => {
  const router = createConnectRouter({ readMaxBytes: options.readMaxBytes })
  register(router)
  return router
}

/** Adds one POST route per RPC (`/chat.v1.ChatService/SendMessage`, ...) to the app. */
export const mountOnApp = (app: Hono<any>, router: ConnectRouter): void => {
  for (const handler of router.handlers) {
    const fetchHandler = createFetchHandler(handler, { httpVersion: "1.1" })
    // GET serves Connect's side-effect-free GET requests; none of our RPCs opts in, so it answers as Connect says.
    app.on(["POST", "GET"], handler.requestPath, (c) => fetchHandler(c.req.raw))
  }
}

/** The gRPC (HTTP/2, cleartext) listener on Node; its port (0: any free one). */
export const serveGrpcNode = (
  register: RegisterServices,
  options: ConnectOptions & { readonly port: number; readonly host: string }
): Effect.Effect<{ readonly port: number }, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const [{ createServer }, { connectNodeAdapter }] = await Promise.all([
          import("node:http2"),
          import("@connectrpc/connect-node")
        ])
        const server = createServer(
          connectNodeAdapter({
            readMaxBytes: options.readMaxBytes,
            routes: register
          })
        )
                // node:http2 keeps no list of its sessions; shutdown must end open streams.
        const sessions = new Set<import("node:http2").ServerHttp2Session>()
        server.on("session", (session) => {
          sessions.add(session)
          session.once("close", () => sessions.delete(session))
        })
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject)
          server.listen(options.port, options.host, () => resolve())
        })
        const address = server.address()
        return { server, sessions, port: typeof address === "object" && address !== null ? address.port : options.port }
      },
      catch: (e) => (e instanceof Error ? e : new Error(String(e)))
    }),
    ({ server, sessions }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const session of sessions) session.destroy()
      })
  ).pipe(Effect.map(({ port }) => ({ port })))
