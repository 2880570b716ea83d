/**
 * The interface each runtime adapter implements: how to upgrade a request to a
 * WebSocket, how to read a socket's outbound buffer, and how to serve the app.
 */
import { Context, Data, type Effect, type Scope } from "effect"
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

/** The listener could not start (port taken, address not available). */
export class ServeError extends Data.TaggedError("ServeError")<{ readonly cause: unknown }> {
  override get message() {
    return `could not listen: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
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
  readonly serve: (app: Hono<any>, options: ServeOptions) => Effect.Effect<Listening, ServeError, Scope.Scope>
}

/** The runtime the node runs on: chosen by the entry point (src/main.node.ts, src/main.deno.ts). */
export class PlatformTag extends Context.Tag("chat/Platform")<PlatformTag, Platform>() {}
