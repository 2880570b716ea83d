/**
 * The interface each runtime adapter implements: how to upgrade a request to a
 * WebSocket, how to read a socket's outbound buffer, and how to serve the app.
 */
import { Context, Data, type Effect, type Scope } from "effect"
import type { Hono } from "hono"
import type { UpgradeWebSocket, WSContext } from "hono/ws"
import type { SocketLink } from "../http/ws/Session.ts"

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

export interface Platform {
  readonly name: "node" | "deno"
  readonly upgradeWebSocket: UpgradeWebSocket<any>
  readonly linkOf: (ws: WSContext<any>) => SocketLink
  readonly serve: (app: Hono<any>, options: ServeOptions) => Effect.Effect<Listening, ServeError, Scope.Scope>
}

/** The runtime the node runs on: chosen by the entry point (src/main.node.ts, src/main.deno.ts). */
export class PlatformTag extends Context.Tag("chat/Platform")<PlatformTag, Platform>() {}
