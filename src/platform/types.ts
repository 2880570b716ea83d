/**
 * The interface each runtime adapter implements: how to upgrade a request to a
 * WebSocket, how to read a socket's outbound buffer, and how to serve the app.
 */
import type { Effect, Scope } from "effect"
import type { Hono } from "hono"
import type { UpgradeWebSocket, WSContext } from "hono/ws"
import type { SocketLink } from "../http/ws/Session.ts"
import type { Http2Client } from "../push/Http2.ts"

export interface ServeOptions {
  readonly port: number
  readonly host: string
  /** Frames above this are refused by the transport itself (a backstop above the app's own limit). */
  readonly maxPayloadBytes: number
}

export interface Listening {
  readonly port: number
  /** Stop accepting connections; resolves when the listener is closed. */
  readonly stopAccepting: Effect.Effect<void>
}

/** What the runtime says about itself, for the chat_runtime_* metrics. */
export interface RuntimeStats {
  readonly heapUsedBytes: number
  readonly residentBytes: number
  /** Total time spent in GC pauses since start, seconds (0 where the runtime does not say). */
  readonly gcPauseSeconds: number
}

export interface Platform {
  /** Heap, RSS and GC of this process. */
  readonly runtimeStats: () => RuntimeStats
  readonly name: "node" | "deno"
  /** An HTTP/2 client for APNs (src/push/Http2.ts). */
  readonly makeHttp2Client: () => Http2Client
  readonly upgradeWebSocket: UpgradeWebSocket<any>
  readonly linkOf: (ws: WSContext<any>) => SocketLink
  readonly serve: (app: Hono<any>, options: ServeOptions) => Effect.Effect<Listening, unknown, Scope.Scope>
}
