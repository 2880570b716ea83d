/**
 * One subscribed room. It remembers the last seq it delivered, so that after any reconnect
 * it resubscribes with `since` = that seq and the application sees each event exactly
 * once, in seq order.
 */
import type { ChatClient } from "./client.ts"
import { ChatError } from "./client.ts"
import { Emitter, iterate } from "./emitter.ts"
import type { Ack, ChatEvent, ClientFrame, Message, Room, ServerFrame } from "./protocol.ts"

export interface RoomOptions {
  /** The last seq the application already has: delivery starts after it. Default: the room's head. */
  readonly since?: number
  /** At most one `typing` frame per this many ms (default 3000). */
  readonly typingIntervalMs?: number
}

export interface RoomEvents {
  /** A committed event, exactly once and in seq order. */
  event: ChatEvent
  /** Another member's (or your other device's) read position moved. */
  read: { readonly user: string; readonly seq: number }
  typing: { readonly user: string }
  presence: { readonly user: string; readonly online: boolean }
  /** Each (re)subscription: `seq` is the room's head then. */
  subscribed: { readonly seq: number; readonly resumed: boolean }
  /**
   * The gap since the last delivered seq was over the server's replay cap: events `from+1..to`
   * were not replayed. Reload the room and page back with `history()`.
   */
  truncated: { readonly from: number; readonly to: number }
  /** The subscription ended for good (left or removed: "no longer a member"; or `leave()`). */
  ended: { readonly reason: string }
  /** The subscription was refused (e.g. `not_found`); the room is dropped from the client. */
  error: ChatError
}

export interface WriteOptions {
  readonly signal?: AbortSignal
}

const randomId = (): string => {
  const c = globalThis.crypto
  // randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere.
  if (typeof c.randomUUID === "function") return c.randomUUID()
  return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")
}

export class ChatRoom extends Emitter<RoomEvents> {
  /** The last seq delivered to the application (undefined until the first `subscribed`). */
  lastSeq: number | undefined
  private active = true
  private lastTypingAt = 0
  private resolveReady!: (head: number) => void
  private rejectReady!: (e: ChatError) => void
  /** Resolves with the room's head once the first subscription is in place. */
  readonly ready: Promise<number>

  constructor(
    private readonly client: ChatClient,
    readonly id: string,
    private readonly options: RoomOptions,
    private readonly forget: () => void
  ) {
    super()
    this.lastSeq = options.since
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    // Observed so an unawaited `ready` that fails is not an unhandled rejection.
    this.ready.catch(() => undefined)
  }

  /** @internal (re)subscribe on the client's current socket. */
  resubscribe(): void {
    if (!this.active) return
    const frame: ClientFrame = { type: "subscribe", room: this.id, ...(this.lastSeq !== undefined ? { since: this.lastSeq } : {}) }
    this.client.subscribeFrame(this, frame)
  }

  /** @internal */
  subscribed(frame: Extract<ServerFrame, { type: "subscribed" }>): void {
    const resumed = this.lastSeq !== undefined
    if (frame.truncated === true && this.lastSeq !== undefined) {
      const from = this.lastSeq
      this.lastSeq = frame.seq
      this.emit("truncated", { from, to: frame.seq })
    } else if (this.lastSeq === undefined) this.lastSeq = frame.seq
    this.emit("subscribed", { seq: frame.seq, resumed })
    this.resolveReady(frame.seq)
  }

  /** @internal */
  failed(e: ChatError): void {
    this.active = false
    this.forget()
    this.rejectReady(e)
    this.emit("error", e)
  }

  /** @internal */
  ended(reason: string): void {
    if (!this.active) return
    this.active = false
    this.forget()
    this.emit("ended", { reason })
  }

  /** @internal a frame about this room. */
  receive(frame: Extract<ServerFrame, { type: "event" | "read" | "typing" | "presence" }>): void {
    if (!this.active) return
    switch (frame.type) {
      case "event": {
        // A copy of something already delivered (the server resends nothing after `since`,
        // but a resubscribe racing a late frame of the old socket could): drop it.
        if (this.lastSeq !== undefined && frame.seq <= this.lastSeq) return
        this.lastSeq = frame.seq
        const { type: _type, ...event } = frame
        this.emit("event", event as ChatEvent)
        return
      }
      case "read":
        return this.emit("read", { user: frame.user, seq: frame.seq })
      case "typing":
        return this.emit("typing", { user: frame.user })
      case "presence":
        return this.emit("presence", { user: frame.user, online: frame.online })
    }
  }

  /** The room's events as an async iterator (exactly once, in order); ends when aborted or broken out of. */
  events(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ChatEvent> {
    return iterate((push) => this.on("event", push), options.signal)
  }

  private write(frame: ClientFrame, retry: boolean, opts: WriteOptions): Promise<Ack> {
    return this.client
      .request<"ack">(frame, { retry, write: true, signal: opts.signal })
      .then(({ type: _t, id: _id, ...ack }) => ack)
  }

  /**
   * Send a message. Resolves with the ack once it is committed. Kept in the outbox until
   * then: after a reconnect it is sent again with the same clientMsgId (the server stores
   * it once); a `rate_limited` answer is retried after `retryAfterMs`.
   */
  send(body: string, options: WriteOptions & { replyTo?: number; clientMsgId?: string } = {}): Promise<Ack> {
    const frame: ClientFrame = {
      type: "send",
      room: this.id,
      clientMsgId: options.clientMsgId ?? randomId(),
      body,
      ...(options.replyTo !== undefined ? { replyTo: options.replyTo } : {})
    }
    return this.write(frame, true, options)
  }

  /** Edit your own message. Not resent after a disconnect (a repeat would be a second edit): fails with `disconnected`. */
  edit(seq: number, body: string, options: WriteOptions = {}): Promise<Ack> {
    return this.write({ type: "edit", room: this.id, seq, body }, false, options)
  }

  delete(seq: number, options: WriteOptions = {}): Promise<Ack> {
    return this.write({ type: "delete", room: this.id, seq }, true, options)
  }

  react(seq: number, emoji: string, options: WriteOptions & { remove?: boolean } = {}): Promise<Ack> {
    return this.write({ type: "react", room: this.id, seq, emoji, ...(options.remove ? { remove: true } : {}) }, true, options)
  }

  /** Move your read position (default: the last delivered seq). Resolves with the stored position. */
  async read(seq: number | undefined = this.lastSeq, options: WriteOptions = {}): Promise<number> {
    const reply = await this.client.request<"ack">(
      { type: "read", room: this.id, seq: seq ?? 0 },
      { retry: true, write: false, signal: options.signal }
    )
    return reply.seq
  }

  /** Tell the others you are typing; throttled, so it can be called on every keystroke. */
  typing(): void {
    const now = Date.now()
    if (now - this.lastTypingAt < (this.options.typingIntervalMs ?? 3000)) return
    this.lastTypingAt = now
    this.client.sendNow({ type: "typing", room: this.id })
  }

  /**
   * Older messages, newest first, one page per iteration, down to the room's first.
   * Each message shows its current state (edits, deletion, reactions).
   */
  async *history(options: { before?: number; pageSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<Message[]> {
    let before = options.before
    while (true) {
      const page = await this.client.request<"history">(
        { type: "history", room: this.id, limit: options.pageSize ?? 50, ...(before !== undefined ? { before } : {}) },
        { retry: true, write: false, signal: options.signal }
      )
      if (page.messages.length > 0) yield page.messages
      if (!page.hasMore || page.messages.length === 0) return
      before = page.messages[page.messages.length - 1].seq
    }
  }

  /** Members online in the room now (later changes arrive as `presence` events). */
  online(signal?: AbortSignal): Promise<string[]> {
    return this.client.online(this.id, signal)
  }

  /** The room's name, kind and members. */
  info(signal?: AbortSignal): Promise<Room> {
    return this.client.getRoom(this.id, signal)
  }

  /** Stop following the room (an `unsubscribe`); `client.room(id)` subscribes again later. */
  leave(): void {
    if (!this.active) return
    this.client.sendNow({ type: "unsubscribe", room: this.id })
    this.ended("left")
  }
}
