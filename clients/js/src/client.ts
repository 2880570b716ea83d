/**
 * The connection: one WebSocket at a time, reconnected with exponential backoff and jitter,
 * every subscribed room resumed with `since` = the last seq delivered, and writes kept in
 * an outbox until acked (sends are retried with their clientMsgId, which the server
 * deduplicates). REST calls share the token and its refresh.
 */
import { Emitter } from "./emitter.ts"
import type { Ack, ClientFrame, ErrorCode, Message, Room, RoomSummary, ServerFrame } from "./protocol.ts"
import { ChatRoom, type RoomOptions } from "./room.ts"

/** The part of the WebSocket API the client uses: the browser's, Deno's, Node 22's, or `ws`. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: any) => void) | null
  // `any` events: each implementation (DOM, Deno, `ws`) has its own event classes.
  onmessage: ((ev: any) => void) | null
  onclose: ((ev: any) => void) | null
  onerror: ((ev: any) => void) | null
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface ConnectOptions {
  /** The node's base URL (`http://localhost:8080`), or several: tried in turn when one fails. */
  readonly url: string | ReadonlyArray<string>
  /** A fixed token. */
  readonly token?: string
  /** Called for the first token and again whenever the server refuses the current one (expired). */
  readonly getToken?: () => string | Promise<string>
  /** The WebSocket implementation; defaults to `globalThis.WebSocket` (pass `ws` on Node 20). */
  readonly WebSocket?: WebSocketConstructor
  readonly fetch?: typeof fetch
  /** Reconnect delays: `initialMs * 2^attempt`, capped at `maxMs`, each with jitter (50..100 %). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number }
  /** A ping every this many ms; no pong within the same time means a dead link: reconnect. 0: off. */
  readonly pingIntervalMs?: number
  /** Unacked writes on the wire at once (the server closes a socket with 256 frames waiting). */
  readonly maxInFlight?: number
  /** Aborting closes the client. */
  readonly signal?: AbortSignal
}

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed"

export interface ClientEvents {
  state: { readonly state: ConnectionState; readonly attempt: number; readonly delayMs?: number; readonly closeCode?: number }
  /** Problems the application may want to show; the client keeps going. */
  error: ChatError
}

/** A refused request: `code` is the protocol's error code, or `disconnected`/`aborted`/`closed`. */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode | "disconnected" | "aborted" | "closed" | "http",
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number
  ) {
    super(message)
    this.name = "ChatError"
  }
}

/** One request on the wire (or waiting for a socket): resolved by the reply with its id. */
interface Pending {
  readonly id: string
  readonly frame: ClientFrame
  /** Resent on the next socket when the link drops (idempotent or deduplicated frames). */
  readonly retry: boolean
  /** Counted against maxInFlight (writes). */
  readonly write: boolean
  sent: boolean
  /** `unavailable` answers so far (for the retry backoff). */
  attempts: number
  timer?: ReturnType<typeof setTimeout>
  resolve: (frame: ServerFrame) => void
  reject: (e: ChatError) => void
}

const WS_OPEN = 1

export class ChatClient extends Emitter<ClientEvents> {
  private readonly urls: ReadonlyArray<string>
  private urlIndex = 0
  private readonly WS: WebSocketConstructor
  private readonly fetchFn: typeof fetch
  private token: string | undefined
  private ws: WebSocketLike | undefined
  private attempt = 0
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private awaitingPong = false
  private nextId = 0
  /** Requests in the order they were made: resent in this order after a reconnect. */
  private readonly pending = new Map<string, Pending>()
  private inFlightWrites = 0
  /** Subscribed rooms by id. */
  private readonly rooms = new Map<string, ChatRoom>()
  private _state: ConnectionState = "connecting"
  /** The user the token names (its `sub`), once known. */
  user: string | undefined

  constructor(private readonly options: ConnectOptions) {
    super()
    this.urls = (typeof options.url === "string" ? [options.url] : options.url).map((u) => u.replace(/\/+$/, ""))
    if (this.urls.length === 0) throw new TypeError("connect: url is required")
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WS === undefined) throw new TypeError("connect: no global WebSocket; pass one (e.g. `import WebSocket from \"ws\"`)")
    this.WS = WS
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.token = options.token
    if (options.token === undefined && options.getToken === undefined) throw new TypeError("connect: token or getToken is required")
    options.signal?.addEventListener("abort", () => this.close(), { once: true })
    if (options.signal?.aborted) this._state = "closed"
    else void this.open()
  }

  private isClosed(): boolean {
    return this._state === "closed"
  }

  get state(): ConnectionState {
    return this._state
  }

  private setState(state: ConnectionState, extra: { delayMs?: number; closeCode?: number } = {}) {
    this._state = state
    this.emit("state", { state, attempt: this.attempt, ...extra })
  }

  // --- token --------------------------------------------------------------------------

  private async currentToken(): Promise<string> {
    if (this.token === undefined) await this.refreshToken()
    return this.token!
  }

  /** Asks getToken for a new token; false when there is no getToken to ask. */
  private async refreshToken(): Promise<boolean> {
    if (this.options.getToken === undefined) return false
    this.token = await this.options.getToken()
    this.user = subOf(this.token)
    return true
  }

  // --- the socket ---------------------------------------------------------------------

  private async open(): Promise<void> {
    if (this._state === "closed") return
    let token: string
    try {
      token = await this.currentToken()
    } catch (e) {
      this.emit("error", new ChatError("unavailable", `getToken failed: ${(e as Error).message}`))
      return this.scheduleReconnect()
    }
    if (this.isClosed()) return
    this.user ??= subOf(token)
    const base = this.urls[this.urlIndex % this.urls.length]
    const wsUrl = `${base.replace(/^http/, "ws")}/v1/ws?access_token=${encodeURIComponent(token)}`
    let ws: WebSocketLike
    try {
      ws = new this.WS(wsUrl)
    } catch (e) {
      this.emit("error", new ChatError("disconnected", `cannot open WebSocket: ${(e as Error).message}`))
      return this.scheduleReconnect()
    }
    this.ws = ws
    let opened = false
    ws.onopen = () => {
      if (this.ws !== ws) return
      opened = true
      this.attempt = 0
      this.setState("open")
      this.startPing(ws)
      // Resume every room first, then the writes: the server handles a socket's frames in order.
      for (const room of this.rooms.values()) room.resubscribe()
      for (const p of this.pending.values()) this.transmit(p)
    }
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.ws !== ws || typeof ev.data !== "string") return
      let frame: ServerFrame
      try {
        frame = JSON.parse(ev.data)
      } catch {
        return
      }
      this.awaitingPong = false
      this.dispatch(frame)
    }
    ws.onerror = () => undefined
    ws.onclose = (ev: { code: number }) => {
      if (this.ws !== ws) return
      this.ws = undefined
      this.stopPing()
      this.linkLost()
      if (this.isClosed()) return
      if (!opened) {
        // The upgrade failed. A browser does not say why, so ask REST whether it was the token.
        void this.checkTokenThenReconnect(token)
        return
      }
      // 1001: the node drains; another one can take us right away. Everything else backs off.
      if (ev.code === 1001) this.attempt = 0
      this.urlIndex++
      this.scheduleReconnect(ev.code)
    }
  }

  private async checkTokenThenReconnect(token: string): Promise<void> {
    this.urlIndex++
    try {
      const r = await this.fetchFn(`${this.urls[(this.urlIndex - 1) % this.urls.length]}/v1/rooms?limit=1`, {
        headers: { authorization: `Bearer ${token}` }
      })
      if (r.status === 401 && this.token === token) {
        if (!(await this.refreshToken())) {
          this.emit("error", new ChatError("unauthorized", "the server refused the token and there is no getToken to renew it"))
        }
      }
    } catch {
      // The node is unreachable: a plain reconnect.
    }
    this.scheduleReconnect()
  }

  private scheduleReconnect(closeCode?: number): void {
    if (this._state === "closed" || this.reconnectTimer !== undefined) return
    const initial = this.options.backoff?.initialMs ?? 250
    const max = this.options.backoff?.maxMs ?? 10_000
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 20))
    // Jitter spreads the reconnects of many clients after a node goes away.
    const delayMs = jittered(ceiling)
    this.attempt++
    this.setState("reconnecting", { delayMs, ...(closeCode !== undefined ? { closeCode } : {}) })
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      void this.open()
    }, delayMs)
  }

  /** Reconnect now instead of waiting out the backoff (e.g. when the browser is back online). */
  reconnect(): void {
    if (this._state === "closed") return
    if (this.ws !== undefined) {
      this.ws.close(4000, "client reconnect")
      this.ws.onclose?.({ code: 4000, reason: "client reconnect" })
      return
    }
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer)
      this.reconnectTimer = undefined
      this.attempt = 0
      void this.open()
    }
  }

  private startPing(ws: WebSocketLike): void {
    const every = this.options.pingIntervalMs ?? 15_000
    if (every <= 0) return
    this.awaitingPong = false
    this.pingTimer = setInterval(() => {
      if (this.awaitingPong) {
        // Nothing arrived for a whole interval after a ping: the link is dead.
        ws.close(4000, "ping timeout")
        ws.onclose?.({ code: 4000, reason: "ping timeout" })
        return
      }
      this.awaitingPong = true
      if (ws.readyState === WS_OPEN) ws.send(JSON.stringify({ type: "ping" }))
    }, every)
  }

  private stopPing(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer)
    this.pingTimer = undefined
  }

  /** The socket is gone: retryable requests wait for the next one, the others fail. */
  private linkLost(): void {
    this.inFlightWrites = 0
    for (const p of [...this.pending.values()]) {
      if (p.timer !== undefined) {
        // A rate-limit wait keeps running; the frame goes out on whichever socket is open then.
        continue
      }
      if (p.retry) p.sent = false
      else {
        this.pending.delete(p.id)
        p.reject(new ChatError("disconnected", "the connection dropped before the server answered; the outcome is unknown"))
      }
    }
  }

  private dispatch(frame: ServerFrame): void {
    switch (frame.type) {
      case "event":
      case "read":
      case "typing":
      case "presence":
        this.rooms.get(frame.room)?.receive(frame)
        return
      case "unsubscribed":
        if (frame.id === undefined) {
          this.rooms.get(frame.room)?.ended(frame.reason ?? "unsubscribed")
          return
        }
        break
      case "pong":
        if (frame.id === undefined) return
        break
    }
    const id = (frame as { id?: string }).id
    if (id === undefined) return
    const p = this.pending.get(id)
    if (p === undefined) return
    const retryIn =
      frame.type !== "error"
        ? undefined
        : frame.code === "rate_limited" && p.write
          ? // Honour the server's wait, then send the same frame again (same clientMsgId).
            (frame.retryAfterMs ?? 1000)
          : (frame.code === "unavailable" || frame.code === "timeout") && p.retry
            ? // `unavailable`: the room is moving between nodes, or overloaded, nothing stored.
              // `timeout`: the outcome is unknown. Either way safe to repeat (deduplicated by
              // clientMsgId, or idempotent), after a growing, jittered pause.
              jittered(Math.min(5_000, 100 * 2 ** Math.min(p.attempts++, 6)))
            : undefined
    if (retryIn !== undefined) {
      this.release(p)
      p.sent = false
      p.timer = setTimeout(() => {
        p.timer = undefined
        this.transmit(p)
        this.pump()
      }, retryIn)
      return
    }
    this.pending.delete(id)
    this.release(p)
    this.pump()
    if (frame.type === "error") p.reject(new ChatError(frame.code, frame.message, frame.retryAfterMs))
    else p.resolve(frame)
  }

  private release(p: Pending): void {
    if (p.write && p.sent) this.inFlightWrites = Math.max(0, this.inFlightWrites - 1)
  }

  /** Put a request on the wire if there is an open socket (and room in the write window). */
  private transmit(p: Pending): void {
    const ws = this.ws
    if (p.sent || p.timer !== undefined || ws === undefined || ws.readyState !== WS_OPEN || this._state !== "open") return
    if (p.write && this.inFlightWrites >= (this.options.maxInFlight ?? 64)) return
    p.sent = true
    if (p.write) this.inFlightWrites++
    ws.send(JSON.stringify({ ...p.frame, id: p.id }))
  }

  /** Writes that waited for the window, in order. */
  private pump(): void {
    for (const p of this.pending.values()) {
      if (this.inFlightWrites >= (this.options.maxInFlight ?? 64)) return
      if (!p.sent) this.transmit(p)
    }
  }

  /** Send a frame now or once connected; resolves with the reply that carries its id. */
  request<F extends ServerFrame["type"]>(
    frame: ClientFrame,
    opts: { retry: boolean; write: boolean; signal?: AbortSignal | undefined }
  ): Promise<Extract<ServerFrame, { type: F }>> {
    if (this._state === "closed") return Promise.reject(new ChatError("closed", "client is closed"))
    if (opts.signal?.aborted) return Promise.reject(new ChatError("aborted", "aborted"))
    return new Promise((resolve, reject) => {
      const id = `c${++this.nextId}`
      const p: Pending = { id, frame, retry: opts.retry, write: opts.write, sent: false, attempts: 0, resolve: resolve as any, reject }
      this.pending.set(id, p)
      // Aborting stops waiting; a write already on the wire may still commit.
      opts.signal?.addEventListener(
        "abort",
        () => {
          if (!this.pending.delete(id)) return
          if (p.timer !== undefined) clearTimeout(p.timer)
          this.release(p)
          reject(new ChatError("aborted", "aborted"))
        },
        { once: true }
      )
      this.transmit(p)
    })
  }

  /** Fire-and-forget frames (typing): dropped while disconnected. */
  sendNow(frame: ClientFrame): void {
    if (this.ws?.readyState === WS_OPEN && this._state === "open") this.ws.send(JSON.stringify(frame))
  }

  /** For ChatRoom: a subscribe on the current socket, if any. */
  subscribeFrame(room: ChatRoom, frame: ClientFrame): void {
    if (this._state !== "open") return
    // Not in `pending`: a lost subscribe is redone by resubscribe() on the next socket.
    const id = `s${++this.nextId}`
    const p: Pending = {
      id,
      frame,
      retry: false,
      write: false,
      sent: false,
      attempts: 0,
      resolve: (f) => room.subscribed(f as Extract<ServerFrame, { type: "subscribed" }>),
      reject: (e) => {
        if (e.code !== "disconnected") room.failed(e)
      }
    }
    this.pending.set(id, p)
    this.transmit(p)
  }

  // --- rooms --------------------------------------------------------------------------

  /**
   * Subscribe to a room (or get the existing subscription). Events start after `since`
   * when given (a seq the application already has), else at the room's head.
   */
  room(id: string, options: RoomOptions = {}): ChatRoom {
    const key = id.toLowerCase()
    let room = this.rooms.get(key)
    if (room === undefined) {
      room = new ChatRoom(this, key, options, () => this.rooms.delete(key))
      this.rooms.set(key, room)
      room.resubscribe()
    }
    return room
  }

  // --- REST ---------------------------------------------------------------------------

  /** A REST call with the current token; a 401 asks getToken for a new one and retries once. */
  async rest<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.currentToken()
      const base = this.urls[this.urlIndex % this.urls.length]
      let r: Response
      try {
        r = await this.fetchFn(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          ...(signal ? { signal } : {})
        })
      } catch (e) {
        if (signal?.aborted) throw new ChatError("aborted", "aborted")
        if (attempt < this.urls.length - 1) {
          this.urlIndex++
          continue
        }
        throw new ChatError("unavailable", `request failed: ${(e as Error).message}`)
      }
      if (r.status === 401 && attempt === 0 && this.token === token && (await this.refreshToken())) continue
      if (r.status === 204) return undefined as T
      const json = (await r.json().catch(() => undefined)) as any
      if (!r.ok) {
        const err = json?.error
        throw new ChatError(err?.code ?? "http", err?.message ?? `HTTP ${r.status}`, err?.retryAfterMs, r.status)
      }
      return json as T
    }
  }

  /** The caller's rooms with unread counts and last message, pinned first, then by activity. */
  async listRooms(options: { limit?: number; signal?: AbortSignal } = {}): Promise<RoomSummary[]> {
    const out: RoomSummary[] = []
    let cursor: string | undefined
    const limit = options.limit ?? 500
    do {
      const q = new URLSearchParams({ limit: String(Math.min(200, limit - out.length)) })
      if (cursor !== undefined) q.set("cursor", cursor)
      const page = await this.rest<{ rooms: RoomSummary[]; nextCursor?: string }>("GET", `/v1/rooms?${q}`, undefined, options.signal)
      out.push(...page.rooms)
      cursor = page.nextCursor
    } while (cursor !== undefined && out.length < limit)
    return out
  }

  getRoom(id: string, signal?: AbortSignal): Promise<Room> {
    return this.rest("GET", `/v1/rooms/${encodeURIComponent(id)}`, undefined, signal)
  }
  createDirect(user: string): Promise<Room> {
    return this.rest("POST", "/v1/rooms", { kind: "direct", with: user })
  }
  createGroup(name: string, members: ReadonlyArray<string> = []): Promise<Room> {
    return this.rest("POST", "/v1/rooms", { kind: "group", name, members })
  }
  rename(id: string, name: string): Promise<Room> {
    return this.rest("PATCH", `/v1/rooms/${encodeURIComponent(id)}`, { name })
  }
  addMembers(id: string, users: ReadonlyArray<string>): Promise<Room> {
    return this.rest("POST", `/v1/rooms/${encodeURIComponent(id)}/members`, { users })
  }
  removeMember(id: string, user: string): Promise<void> {
    return this.rest("DELETE", `/v1/rooms/${encodeURIComponent(id)}/members/${encodeURIComponent(user)}`)
  }
  async online(id: string, signal?: AbortSignal): Promise<string[]> {
    return (await this.rest<{ online: string[] }>("GET", `/v1/rooms/${encodeURIComponent(id)}/presence`, undefined, signal)).online
  }

  /** Close the socket and stop reconnecting; waiting requests fail with `closed`. */
  close(): void {
    if (this._state === "closed") return
    this._state = "closed"
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer)
    this.stopPing()
    const ws = this.ws
    this.ws = undefined
    ws?.close(1000, "client closed")
    for (const p of this.pending.values()) {
      if (p.timer !== undefined) clearTimeout(p.timer)
      p.reject(new ChatError("closed", "client is closed"))
    }
    this.pending.clear()
    this.emit("state", { state: "closed", attempt: this.attempt })
  }
}

/** 50..100 % of `ms`: spreads the retries of many clients. */
const jittered = (ms: number): number => Math.round(ms / 2 + (Math.random() * ms) / 2)

/** The `sub` of a JWT, read without verifying (the server verifies). */
const subOf = (token: string): string | undefined => {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))
    const json = JSON.parse(new TextDecoder().decode(bytes))
    return typeof json.sub === "string" ? json.sub : undefined
  } catch {
    return undefined
  }
}

export type { Ack, Message }
