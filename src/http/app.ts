/**
 * The Hono app: REST routes, the WebSocket endpoint, health and metrics. The same app
 * runs on Node and Deno; the runtime adapter supplies `upgradeWebSocket` and how to read
 * a socket's outbound buffer. Every request body and query is decoded by a Schema from
 * src/protocol/rest.ts before the chat service sees it.
 */
import { Cause, Effect, Exit, Option, Runtime, Schema } from "effect"
import { routePath } from "hono/route"
import { Hono, type Context } from "hono"
import { bodyLimit } from "hono/body-limit"
import { cors } from "hono/cors"
import { cors as connectCors } from "@connectrpc/connect"
import type { UpgradeWebSocket, WSContext } from "hono/ws"
import type { Chat } from "../chat/Chat.ts"
import { BadRequest, Internal, NotFound, RateLimited, TooLarge, Unauthorized, Unavailable, type ChatError } from "../../core/errors.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import { RoomId as RoomIdSchema, UserId as UserIdSchema } from "../../core/model.ts"
import { CloseCode, errorPayload, statusOf } from "../protocol/errorMap.ts"
import { formatIssue } from "../protocol/frames.ts"
import { jsonTooDeep, tooDeepMessage } from "../protocol/jsonDepth.ts"
import * as Rest from "../protocol/rest.ts"
import type { Readiness } from "./readiness.ts"
import type { Hub } from "./ws/Hub.ts"
import { mountWeb, type WebAssets } from "./web.ts"
import { makeSession, type Fork, type Session, type SessionDeps, type SessionLimits, type SocketLink } from "./ws/Session.ts"


export interface GatewayDeps {
  readonly chat: Chat
  readonly hub: Hub
  readonly verify: (token: string) => Effect.Effect<UserId, Unauthorized>
  /** `verify` answered from its cache without an Effect; undefined: run `verify`. */
  readonly verifyNow?: (token: string) => UserId | undefined
  readonly runtime: Runtime.Runtime<never>
  /** Starts the sessions' fibers in the gateway's FiberSet (see SessionDeps.fork). */
  readonly fork: Fork
  readonly limits: SessionLimits & {
    readonly maxRestBodyBytes: number
    /** Most open sockets per user: refused with 429 before the upgrade (see `socketCap`). */
    readonly maxSocketsPerUser: number
  }
  readonly readiness: Effect.Effect<Readiness>
  readonly metrics: Effect.Effect<string>
  /** Web Push: the VAPID public key a web app subscribes with (not secret). */
  readonly vapidPublicKey?: string
  readonly upgradeWebSocket: UpgradeWebSocket<any>
  readonly linkOf: (ws: WSContext<any>) => SocketLink
  /** Live sessions, for shutdown (close 1001) and the connection gauge. */
  readonly sessions: Set<Session>
  readonly onConnectionsChanged: (open: number) => void
  readonly onSlowConsumer: () => void
  readonly onError: (e: ChatError) => void
  /** One WebSocket frame arrived (metrics). */
  readonly onFrame: () => void
  /** Set when the node is draining: new WebSockets and writes are refused. */
  readonly isDraining: () => boolean
  /** Called once per answered HTTP request with the matched route pattern (never the raw path). */
  readonly onHttpRequest?: (route: string, method: string, status: number, seconds: number) => void
  /** The web chat at `/`, and the dev sign-in (only with the generated development secret). */
  readonly web?: { readonly assets: WebAssets; readonly devToken: Option.Option<(user: string) => Promise<string>> }
  /** Origins allowed to call from a browser on another origin (CHAT_CORS_ORIGINS); none when absent. */
  readonly corsOrigins?: ReadonlyArray<string>
}

type Env = { Variables: { user: UserId } }

/**
 * A room id as RoomIdSchema decodes it unchanged (a lowercase UUID). Other spellings (upper
 * case, which the schema lowercases, or no UUID at all) take the schema's path.
 */
const PLAIN_ROOM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const bearer = (c: Context, allowQuery: boolean): string | undefined => {
  const h = c.req.header("authorization")
  if (h !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(h)
    return m ? m[1] : undefined
  }
  return allowQuery ? c.req.query("access_token") : undefined
}

/**
 * A socket's event handlers for the runtime adapter, which calls them as methods. They live
 * as long as the socket, so they keep only the user and the session, not the request
 * context; and they are a class, not an object of closures: three closures and their scope
 * per socket would cost a few hundred bytes on every idle connection.
 */
class SocketEvents {
  private session: Session | undefined
  constructor(
    private readonly user: UserId,
    private readonly deps: GatewayDeps,
    private readonly sessionDeps: SessionDeps,
    private readonly perUser: Map<UserId, number>
  ) {}
  onOpen(_evt: Event, ws: WSContext<any>): void {
    const open = this.perUser.get(this.user) ?? 0
    if (open >= this.deps.limits.maxSocketsPerUser) {
      // Upgrades that passed the HTTP check together, past the cap on this node: the
      // socket is open already, so the refusal is a close with the reason.
      const link = this.deps.linkOf(ws)
      link.close(CloseCode.policy, tooManySockets(this.deps.limits.maxSocketsPerUser))
      return
    }
    this.perUser.set(this.user, open + 1)
    this.session = makeSession(this.user, this.deps.linkOf(ws), this.sessionDeps)
    this.deps.sessions.add(this.session)
    this.deps.onConnectionsChanged(this.deps.sessions.size)
  }
  onMessage(evt: MessageEvent): void {
    if (this.session === undefined) return
    this.deps.onFrame()
    if (typeof evt.data === "string") this.session.onText(evt.data)
    else this.session.onBinary()
  }
  onClose(): void {
    if (this.session === undefined) return
    const open = (this.perUser.get(this.user) ?? 1) - 1
    if (open > 0) this.perUser.set(this.user, open)
    else this.perUser.delete(this.user)
    this.session.onClosed()
    this.deps.sessions.delete(this.session)
    this.deps.onConnectionsChanged(this.deps.sessions.size)
  }
  // No onError: the close event follows an error, and onClose releases everything.
}

const tooManySockets = (max: number) => `too many open connections for this user (at most ${max})`

export const makeApp = (deps: GatewayDeps) => {
  const app = new Hono<Env>()
  // CORS (CHAT_CORS_ORIGINS): first, so that a browser's preflight (OPTIONS, no token) is
  // answered here and never reaches authentication. No origins: no CORS headers at all.
  if (deps.corsOrigins !== undefined && deps.corsOrigins.length > 0) {
    const origins = deps.corsOrigins
    app.use(
      "*",
      cors({
        origin: origins.includes("*") ? "*" : [...origins],
        allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        // Plus what Connect and gRPC-Web clients send and read (their headers, trailers as headers).
        allowHeaders: ["Authorization", "Content-Type", ...connectCors.allowedHeaders],
        exposeHeaders: [...connectCors.exposedHeaders, "Chat-Error-Code", "Retry-After-Ms"],
        // Browsers cache the preflight answer this long (seconds).
        maxAge: 600
      })
    )
  }
  const run = Runtime.runPromiseExit(deps.runtime)

  // chat_http_requests_total: the route pattern (routePath of the last matched route), so
  // /v1/rooms/<uuid> counts as /v1/rooms/:room and unknown paths as "*": a bounded label set.
  if (deps.onHttpRequest) {
    const observe = deps.onHttpRequest
    app.use("*", async (c, next) => {
      const started = performance.now()
      await next()
      observe(routePath(c, -1), c.req.method, c.res.status, (performance.now() - started) / 1000)
    })
  }

  const fail = (c: Context, e: ChatError) => {
    deps.onError(e)
    if (e._tag === "RateLimited") c.header("Retry-After", String(Math.ceil(e.retryAfterMs / 1000)))
    return c.json({ error: errorPayload(e) }, statusOf(e) as 400)
  }

  /** Run a chat effect and answer JSON; a defect is logged and answered 500. */
  const respond = async <A>(c: Context, effect: Effect.Effect<A, ChatError>, status = 200) => {
    const exit = await run(effect)
    if (Exit.isSuccess(exit)) return exit.value === undefined ? c.body(null, 204) : c.json(exit.value as object, status as 200)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) return fail(c, failure.value)
    await run(Effect.logError("request failed").pipe(Effect.annotateLogs("cause", Cause.pretty(exit.cause).slice(0, 800))))
    return fail(c, new Internal({ message: "internal error" }))
  }

  const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown): Effect.Effect<A, BadRequest> =>
    Schema.decodeUnknown(schema, { onExcessProperty: "ignore", errors: "all" })(input).pipe(
      Effect.mapError((e) => new BadRequest({ message: formatIssue(e) })),
      // Input no schema of ours can describe (it broke the decoder or the error formatter)
      // is still the client's bad input, not a server fault.
      Effect.catchAllDefect(() => Effect.fail(new BadRequest({ message: "request could not be decoded" })))
    )

  const body = <A, I>(c: Context, schema: Schema.Schema<A, I>): Effect.Effect<A, BadRequest> =>
    Effect.flatMap(
      Effect.tryPromise({
        try: () => c.req.text(),
        catch: () => new BadRequest({ message: "body could not be read" })
      }),
      (text) => {
        // Bounded before parsing: a value nested thousands deep overflows the stack in
        // decoding and error formatting (it answered 500).
        if (jsonTooDeep(text)) return Effect.fail(new BadRequest({ message: tooDeepMessage }))
        return Effect.flatMap(
          Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => new BadRequest({ message: "body is not valid JSON" }) }),
          (json) => decode(schema, json)
        )
      }
    )

  const roomParam = (c: Context): Effect.Effect<RoomId, NotFound> =>
    // A malformed room id names no room: not_found, like a room the caller cannot see.
    Effect.mapError(decode(RoomIdSchema, c.req.param("room")), () => new NotFound({ message: "room not found" }))

  // --- operations -----------------------------------------------------------------------
  app.get("/healthz", (c) => c.json({ status: "ok" }))
  app.get("/v1/push/vapid-public-key", (c) =>
    deps.vapidPublicKey === undefined
      ? fail(c, new NotFound({ message: "web push is not configured" }))
      : c.json({ publicKey: deps.vapidPublicKey })
  )
  app.get("/readyz", async (c) => {
    const exit = await run(deps.readiness)
    const r: Readiness = Exit.isSuccess(exit) ? exit.value : { ok: false, checks: { readiness: "failed" } }
    const ok = r.ok && !deps.isDraining()
    return c.json(
      { status: ok ? "ok" : "unavailable", draining: deps.isDraining(), checks: r.checks, ...(r.details ?? {}) },
      ok ? 200 : 503
    )
  })
  app.get("/metrics", async (c) => {
    const exit = await run(deps.metrics)
    if (Exit.isFailure(exit)) return c.text("metrics unavailable", 500)
    return c.text(exit.value, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
  })

  // --- authentication -------------------------------------------------------------------
  const verifyNow = deps.verifyNow
  const authenticate = (allowQuery: boolean) => async (c: Context<Env>, next: () => Promise<void>) => {
    const token = bearer(c, allowQuery)
    if (token === undefined) return fail(c, new Unauthorized({ message: "missing bearer token" }))
    const known = verifyNow?.(token)
    if (known !== undefined) {
      c.set("user", known)
      return next()
    }
    const exit = await run(deps.verify(token))
    if (Exit.isFailure(exit)) {
      const f = Cause.failureOption(exit.cause)
      return fail(c, Option.isSome(f) ? f.value : new Unauthorized({ message: "invalid token" }))
    }
    c.set("user", exit.value)
    await next()
  }

  app.use("/v1/rooms/*", authenticate(false))
  app.use("/v1/rooms", authenticate(false))
  app.use("/v1/devices/*", authenticate(false))
  app.use("/v1/devices", authenticate(false))
  const limitBody = bodyLimit({
    maxSize: deps.limits.maxRestBodyBytes,
    onError: (c) => fail(c, new TooLarge({ message: `request body over ${deps.limits.maxRestBodyBytes} bytes` }))
  })
  // Hono's bodyLimit reads `c.req.raw.body` first, and on @hono/node-server that builds a
  // whole undici Request and an AbortController per request: on a history page that
  // garbage was a large share of the GC behind the p99. A GET or HEAD has no body we read,
  // so it skips the check; everything else goes through it unchanged.
  app.use("/v1/*", (c, next) => {
    const m = c.req.method
    return m === "GET" || m === "HEAD" ? next() : limitBody(c, next)
  })

  // --- rooms ----------------------------------------------------------------------------
  app.post("/v1/rooms", async (c) => {
    const user = c.get("user")
    const input = await run(body(c, Rest.CreateRoom))
    if (Exit.isFailure(input)) return respond(c, Effect.failCause(input.cause))
    const v = input.value
    if (v.kind === "direct") {
      const exit = await run(deps.chat.createDirect(user, v.with))
      if (Exit.isFailure(exit)) return respond(c, Effect.failCause(exit.cause))
      return c.json(exit.value.room, exit.value.created ? 201 : 200)
    }
    return respond(c, deps.chat.createGroup(user, v.name, v.members ?? []), 201)
  })

  app.get("/v1/rooms", (c) =>
    respond(
      c,
      Effect.flatMap(decode(Rest.ListRoomsQuery, c.req.query()), (q) =>
        deps.chat.listRooms(c.get("user"), q.cursor, q.limit ?? 50)
      )
    )
  )

  app.get("/v1/rooms/:room", (c) =>
    respond(c, Effect.flatMap(roomParam(c), (room) => deps.chat.getRoom(c.get("user"), room)))
  )

  app.patch("/v1/rooms/:room", (c) =>
    respond(
      c,
      Effect.flatMap(Effect.zip(roomParam(c), body(c, Rest.PatchRoom)), ([room, b]) =>
        deps.chat.rename(c.get("user"), room, b.name)
      )
    )
  )

  app.post("/v1/rooms/:room/members", (c) =>
    respond(
      c,
      Effect.flatMap(Effect.zip(roomParam(c), body(c, Rest.AddMembers)), ([room, b]) =>
        deps.chat.addMembers(c.get("user"), room, b.users)
      )
    )
  )

  app.delete("/v1/rooms/:room/members/:user", (c) =>
    respond(
      c,
      Effect.gen(function* () {
        const room = yield* roomParam(c)
        const target = yield* Effect.mapError(decode(UserIdSchema, c.req.param("user")), () => new NotFound({ message: "not a member" }))
        yield* deps.chat.removeMember(c.get("user"), room, target)
      })
    )
  )

  app.get("/v1/rooms/:room/presence", (c) =>
    respond(c, Effect.flatMap(roomParam(c), (room) => Effect.map(deps.chat.online(c.get("user"), room), (online) => ({ online }))))
  )

  app.put("/v1/rooms/:room/pin", (c) =>
    respond(c, Effect.flatMap(roomParam(c), (room) => deps.chat.setPinned(c.get("user"), room, true)))
  )
  app.delete("/v1/rooms/:room/pin", (c) =>
    respond(c, Effect.flatMap(roomParam(c), (room) => deps.chat.setPinned(c.get("user"), room, false)))
  )

  app.get("/v1/rooms/:room/messages", (c) => {
    const query = c.req.query()
    const historyNow = deps.chat.historyNow
    // The plain path (no Effect, Schema or fiber) for a request in its plain form whose
    // answer needs no I/O before the query; everything else, errors included, below.
    if (historyNow !== undefined) {
      const room = c.req.param("room")
      const q = PLAIN_ROOM_ID.test(room) ? Rest.plainHistoryQuery(query) : undefined
      if (q !== undefined) {
        let answered: Response | Promise<Response> | undefined
        let resolve: ((r: Response) => void) | undefined
        const started = historyNow(c.get("user"), room as RoomId, q.before, q.limit ?? 50, (error, page) => {
          const r = error !== undefined ? fail(c, error) : c.json(page!, 200)
          if (resolve !== undefined) resolve(r)
          else answered = r
        })
        if (started) return answered ?? new Promise<Response>((r) => (resolve = r))
      }
    }
    return respond(
      c,
      Effect.flatMap(Effect.zip(roomParam(c), decode(Rest.HistoryQuery, query)), ([room, q]) =>
        deps.chat.history(c.get("user"), room, q.before, q.limit ?? 50)
      )
    )
  })

  app.post("/v1/rooms/:room/messages", (c) =>
    respond(
      c,
      Effect.flatMap(Effect.zip(roomParam(c), body(c, Rest.PostMessage)), ([room, b]) =>
        Effect.flatten(deps.chat.send(c.get("user"), room, b))
      ),
      201
    )
  )

  app.post("/v1/rooms/:room/read", (c) =>
    respond(
      c,
      Effect.flatMap(Effect.zip(roomParam(c), body(c, Rest.PostRead)), ([room, b]) =>
        deps.chat.markRead(c.get("user"), room, b.seq)
      )
    )
  )

  // --- devices --------------------------------------------------------------------------
  app.post("/v1/devices", (c) =>
    respond(
      c,
      Effect.flatMap(body(c, Rest.PostDevice), (b) => deps.chat.registerDevice(c.get("user"), b.token, b.platform))
    )
  )
  app.get("/v1/devices", (c) => respond(c, Effect.map(deps.chat.listDevices(c.get("user")), (devices) => ({ devices }))))
  app.delete("/v1/devices/:token", (c) => {
    // Hono has already percent-decoded the path parameter once. A token that could never
    // have been registered (empty, too long, with NUL) is not looked up: no such device.
    const token = c.req.param("token")
    return respond(
      c,
      Schema.is(Rest.DeviceToken)(token)
        ? deps.chat.unregisterDevice(c.get("user"), token)
        : Effect.fail(new NotFound({ message: "device not found" }))
    )
  })

  // --- WebSocket ------------------------------------------------------------------------
  // One object shared by every session of this node.
  const sessionDeps: SessionDeps = {
    chat: deps.chat,
    hub: deps.hub,
    limits: deps.limits,
    fork: deps.fork,
    onSlowConsumer: deps.onSlowConsumer,
    onError: deps.onError
  }
  /** Open sockets per user on this node (the cap's exact count here; Redis adds the other nodes'). */
  const perUser = new Map<UserId, number>()
  /**
   * The per-user socket cap, before the upgrade: 429 `rate_limited`, so a client sees the
   * reason in the HTTP answer. Counted cluster-wide through Redis presence when configured
   * (this node's count when Redis is down); the other nodes' counts may lag a moment.
   */
  const socketCap = async (c: Context<Env>, next: () => Promise<void>) => {
    const user = c.get("user")
    const max = deps.limits.maxSocketsPerUser
    const exit = await run(deps.chat.openSockets(user))
    const open = Math.max(perUser.get(user) ?? 0, Exit.isSuccess(exit) ? exit.value : 0)
    if (open >= max) return fail(c, new RateLimited({ message: tooManySockets(max), retryAfterMs: 1000 }))
    return next()
  }
  app.get(
    "/v1/ws",
    async (c, next) => {
      if (deps.isDraining()) return fail(c, new Unavailable({ message: "node is draining; connect elsewhere" }))
      return authenticate(true)(c, next)
    },
    socketCap,
    deps.upgradeWebSocket((c) => new SocketEvents(c.get("user") as UserId, deps, sessionDeps, perUser))
  )

  if (deps.web) mountWeb(app, deps.web.assets, deps.web.devToken)

  app.notFound((c) => fail(c, new NotFound({ message: "no such route" })))
  app.onError(async (err, c) => {
    await run(Effect.logError("unhandled route error").pipe(Effect.annotateLogs("error", String(err).slice(0, 300))))
    return fail(c, new Internal({ message: "internal error" }))
  })
  return app
}
