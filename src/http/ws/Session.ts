/**
 * One WebSocket connection: decodes frames, calls the chat service, and delivers each
 * subscribed room's events exactly once, in seq order.
 *
 * Delivery is closed by seq, not by timing (src/chat/orderedDelivery.ts, shared with the
 * Connect StreamMessages handler): live events are checked against the last seq the client
 * has, and a gap is filled from storage before anything newer goes out.
 *
 * Frames are handled in arrival order (each write is enqueued to its room before the next
 * frame is read), while the awaiting of acks runs concurrently, so a client may pipeline.
 *
 * Memory: most sockets are idle most of the time, so an idle session holds only plain
 * fields. It is a class (methods on the prototype, not closures per socket: under tsx each
 * named closure also gets its own property store), and it owns no fiber, queue or scope
 * while idle. A worker fiber is started by a frame and ends when no frame is left; frames
 * that arrive meanwhile wait in a plain array, created on demand and dropped once drained.
 */
import { Cause, Effect, Fiber, Runtime } from "effect"
import type { Chat } from "../../chat/Chat.ts"
import { BadRequest, type ChatError, type Internal, type Unavailable } from "../../../core/errors.ts"
import type { Ack, ChatEvent, RoomId, UserId } from "../../../core/model.ts"
import { CloseCode } from "../../protocol/errorMap.ts"
import { decodeFrame, type ClientFrame } from "../../protocol/frames.ts"
import { decodeSendFast, type SendFrame } from "../../protocol/fastSend.ts"
import type { Hub, HubMember } from "./Hub.ts"
import { arrive, startCatchUp, type OrderedSink, type RoomSub } from "../../chat/orderedDelivery.ts"
import { ackFrame, errorFrame, eventFrame, replyFrame } from "../../protocol/serverFrames.ts"

/**
 * What the runtime adapter gives a session: the socket, as little of it as needed. Called
 * as methods, so an adapter may implement it with a class (no closures per socket).
 */
export interface SocketLink {
  send(text: string): void
  close(code: number, reason: string): void
  /** Bytes queued for this socket and not yet written to the network. */
  bufferedAmount(): number
}

export interface SessionLimits {
  readonly replayCap: number
  readonly maxSubscriptions: number
  readonly maxFrameBytes: number
  readonly maxBufferedBytes: number
  /** Frames read but not yet handled; more means the client floods: close 1008. */
  readonly inboxCapacity: number
}

/** Starts a fiber that lives in a scope (FiberSet.runtime): answers the fiber at once. */
export type Fork = <A, E>(effect: Effect.Effect<A, E>, options?: Runtime.RunForkOptions) => Fiber.RuntimeFiber<A, E>

/** Shared by every session of a node: build it once, not per socket. */
export interface SessionDeps {
  readonly chat: Chat
  readonly hub: Hub
  readonly limits: SessionLimits
  /**
   * Starts a fiber in the gateway's FiberSet: every fiber of every session lives in the
   * gateway's scope, so none outlives the node's shutdown (a closing socket also interrupts
   * its own, see `release`).
   */
  readonly fork: Fork
  readonly onSlowConsumer: () => void
  readonly onError: (e: ChatError) => void
}

/**
 * A session's subscriptions by room. Most sockets hold exactly one, so the first is kept in
 * a field and a Map (about 250 bytes even when nearly empty) is made only for a second.
 */
class Subscriptions {
  private one: RoomSub | null = null
  private more: Map<RoomId, RoomSub> | null = null

  get size(): number {
    return (this.one === null ? 0 : 1) + (this.more === null ? 0 : this.more.size)
  }

  get(room: RoomId): RoomSub | undefined {
    if (this.one !== null && this.one.room === room) return this.one
    return this.more === null ? undefined : this.more.get(room)
  }

  /** The caller has checked that `sub.room` is not subscribed yet. */
  add(sub: RoomSub): void {
    if (this.one === null) this.one = sub
    else (this.more ??= new Map()).set(sub.room, sub)
  }

  delete(room: RoomId): boolean {
    if (this.one !== null && this.one.room === room) {
      this.one = null
      return true
    }
    if (this.more === null || !this.more.delete(room)) return false
    if (this.more.size === 0) this.more = null
    return true
  }

  /** Removes every subscription; answers them. */
  drain(): Array<RoomSub> {
    const all = this.more === null ? [] : [...this.more.values()]
    if (this.one !== null) all.unshift(this.one)
    this.one = null
    this.more = null
    return all
  }
}

/** Called as methods (the session is a class instance). */
export interface Session {
  onText(text: string): void
  onBinary(): void
  /** The socket closed (either side): release everything. */
  onClosed(): void
  /** Close from the server side. */
  close(code: number, reason: string): void
}

let counter = 0

export const makeSession = (user: UserId, link: SocketLink, deps: SessionDeps): Session => new WsSession(user, link, deps)

class WsSession implements Session, HubMember, OrderedSink {
  readonly user: UserId
  private readonly link: SocketLink
  private readonly deps: SessionDeps
  private sessionId: string | null = null
  private readonly subs = new Subscriptions()
  private closed = false
  /** A frame is being handled: the next ones wait in `waiting`. */
  private busy = false
  /** Frames read while another was being handled, oldest first; null when none wait. */
  private waiting: Array<string> | null = null
  /** The worker fiber (see `startWorker`), while it waits on I/O; null otherwise. */
  private current: Fiber.RuntimeFiber<void, never> | null = null
  /** Fibers awaiting the acks of pipelined writes; null when none are in flight. */
  private acks: Set<Fiber.RuntimeFiber<void, never>> | null = null

  constructor(user: UserId, link: SocketLink, deps: SessionDeps) {
    this.user = user
    this.link = link
    this.deps = deps
    this.fork(deps.chat.connected(user))
  }

  /** Names this socket as the origin of read and typing frames; made on first use. */
  get id(): string {
    return (this.sessionId ??= `s${++counter}.${Date.now().toString(36)}`)
  }

  private fork<A, E>(effect: Effect.Effect<A, E>): Fiber.RuntimeFiber<A, E> {
    return this.deps.fork(effect)
  }

  private sendRaw(text: string): void {
    if (this.closed) return
    // The buffer check comes before the send: memory per socket stays bounded by the
    // limit plus one frame, whatever the client's read speed.
    if (this.link.bufferedAmount() > this.deps.limits.maxBufferedBytes) {
      this.deps.onSlowConsumer()
      this.close(CloseCode.policy, "slow consumer: outbound buffer full")
      return
    }
    this.link.send(text)
  }

  private sendError(frameId: string | undefined, e: ChatError): void {
    this.deps.onError(e)
    this.sendRaw(errorFrame(frameId, e))
  }

  // --- ordered delivery ---------------------------------------------------------------

  /**
   * Send one event in order. When the event is this user leaving the room (left or
   * removed), the subscription ends right after it: a former member sees nothing later.
   */
  emit(sub: RoomSub, event: ChatEvent, frame: string): void {
    sub.lastSeq = event.seq
    this.sendRaw(frame)
    if (event.kind === "member.left" && (event.data as { user?: string }).user === this.user && this.subs.get(event.room) === sub) {
      this.subs.delete(event.room)
      this.fork(Effect.zipRight(this.deps.hub.leave(event.room, this), this.deps.chat.unsubscribed(this.user, event.room)))
      this.sendRaw(replyFrame("unsubscribed", undefined, { room: event.room, reason: "no longer a member" }))
    }
  }

  isCurrent(sub: RoomSub): boolean {
    return !this.closed && this.subs.get(sub.room) === sub
  }

  private startCatchUp(sub: RoomSub, target: number): void {
    const replay = startCatchUp(this, this.deps.chat.replay, sub, target, eventFrame)
    if (replay === undefined) return
    this.fork(
      replay.pipe(
        Effect.catchAll((e) => Effect.sync(() => this.close(CloseCode.internal, `replay failed: ${e.message}`)))
      )
    )
  }

  // --- HubMember ----------------------------------------------------------------------

  deliverEvent(event: ChatEvent, frame: string): void {
    const sub = this.subs.get(event.room)
    if (sub === undefined || this.closed) return
    const gapBefore = arrive(this, sub, event, frame)
    if (gapBefore !== undefined) this.startCatchUp(sub, gapBefore)
  }

  deliverEphemeral(room: RoomId, frame: string): void {
    // Only to confirmed subscriptions: until membership is checked (lastSeq still -1), a
    // non-member must not learn anything about the room.
    const sub = this.subs.get(room)
    if (sub !== undefined && sub.lastSeq >= 0) this.sendRaw(frame)
  }

  // --- frame handlers -----------------------------------------------------------------

  private subscribe(f: Extract<ClientFrame, { type: "subscribe" }>): Effect.Effect<void, ChatError> {
    const self = this
    const { chat, hub, limits } = this.deps
    return Effect.gen(function* () {
      const room = hub.canonical(f.room)
      if (self.subs.get(room) !== undefined) {
        return yield* Effect.fail(new BadRequest({ message: "already subscribed to this room" }))
      }
      if (self.subs.size >= limits.maxSubscriptions) {
        return yield* Effect.fail(new BadRequest({ message: `at most ${limits.maxSubscriptions} subscriptions per connection` }))
      }
      // Listen first, then read the head: every event after the head is then either
      // replayed or received live (or both, and the seq check drops the copy).
      const sub: RoomSub = { room, lastSeq: -1, pending: [] }
      self.subs.add(sub)
      yield* hub.join(room, self)
      const snapshot = yield* chat.access(self.user, room).pipe(
        Effect.tapError(() => Effect.zipRight(Effect.sync(() => self.subs.delete(room)), hub.leave(room, self)))
      )
      const head = snapshot.lastSeq
      if (f.since !== undefined && f.since > head) {
        self.subs.delete(room)
        yield* hub.leave(room, self)
        return yield* Effect.fail(new BadRequest({ message: `since ${f.since} is past the room's last seq ${head}` }))
      }
      yield* chat.subscribed(self.user, room)
      const truncated = f.since !== undefined && head - f.since > limits.replayCap
      self.sendRaw(replyFrame("subscribed", f.id, { room, seq: head, ...(truncated ? { truncated: true } : {}) }))
      if (f.since === undefined || truncated) {
        sub.lastSeq = head
        self.startCatchUp(sub, head)
      } else {
        sub.lastSeq = f.since
        self.startCatchUp(sub, head)
      }
    })
  }

  private unsubscribe(f: Extract<ClientFrame, { type: "unsubscribe" }>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const left = this.subs.delete(f.room)
        ? Effect.zipRight(this.deps.hub.leave(f.room, this), this.deps.chat.unsubscribed(this.user, f.room))
        : Effect.void
      return Effect.map(left, () => this.sendRaw(replyFrame("unsubscribed", f.id, { room: f.room })))
    })
  }

  /**
   * Enqueue now (in frame order), answer when durable: the awaiting runs in a fiber of its
   * own, so the next frame is handled meanwhile.
   */
  private pipelined(
    frameId: string | undefined,
    pending: Effect.Effect<Effect.Effect<Ack, ChatError>, ChatError>
  ): Effect.Effect<void, ChatError> {
    return Effect.flatMap(pending, (awaitAck) =>
      Effect.sync(() =>
        this.trackAck(
          this.fork(
            Effect.match(awaitAck, {
              onFailure: (e) => this.sendError(frameId, e),
              onSuccess: (ack) => this.sendRaw(ackFrame(frameId, ack))
            })
          )
        )
      )
    )
  }

  /** Keeps an ack fiber until it ends, so that closing the socket can interrupt it. */
  private trackAck(fiber: Fiber.RuntimeFiber<void, never>): void {
    ;(this.acks ??= new Set()).add(fiber)
    fiber.addObserver(() => {
      const acks = this.acks
      if (acks === null) return
      acks.delete(fiber)
      if (acks.size === 0) this.acks = null
    })
  }

  private handle(f: ClientFrame): Effect.Effect<unknown, ChatError> {
    const { chat } = this.deps
    const user = this.user
    switch (f.type) {
      case "ping":
        return Effect.sync(() => this.sendRaw(replyFrame("pong", f.id, {})))
      case "subscribe":
        return this.subscribe(f)
      case "unsubscribe":
        return this.unsubscribe(f)
      case "send":
        if (this.submitSend(f)) return Effect.void
        return this.pipelined(f.id, chat.send(user, f.room, { clientMsgId: f.clientMsgId, body: f.body, replyTo: f.replyTo }))
      case "edit":
        return this.pipelined(f.id, chat.edit(user, f.room, f.seq, f.body))
      case "delete":
        return this.pipelined(f.id, chat.remove(user, f.room, f.seq))
      case "react":
        return this.pipelined(f.id, chat.react(user, f.room, f.seq, f.emoji, f.remove === true))
      case "read":
        return Effect.map(chat.markRead(user, f.room, f.seq, this.id), (ack) => this.sendRaw(ackFrame(f.id, ack)))
      case "typing":
        return chat.typing(user, f.room, this.id)
      case "history":
        return Effect.map(chat.history(user, f.room, f.before, f.limit ?? 50), (page) =>
          this.sendRaw(replyFrame("history", f.id, { room: f.room, messages: page.messages, hasMore: page.hasMore }))
        )
    }
  }

  /**
   * The hot path of a send, as plain code: enqueued to the room's actor now (in frame order),
   * answered from the actor's callback once the batch is durable and its events are out. So a
   * send costs no fiber, Deferred or Effect of its own. False when the chat service cannot take
   * it this way (a limiter or router that needs I/O first).
   */
  private submitSend(f: SendFrame): boolean {
    const submit = this.deps.chat.submitSend
    if (submit === undefined) return false
    const id = f.id
    // The frame is the input (it has clientMsgId, body and replyTo): no copy of it.
    return submit(this.user, f.room, f, (error, ack) => {
      if (error !== undefined) this.sendError(id, error)
      else this.sendRaw(ackFrame(id, ack!))
    })
  }

  // --- inbox ----------------------------------------------------------------------------

  /** One frame, start to end; its failures are answered here, so it cannot fail. */
  private frame(text: string): Effect.Effect<void> {
    const send = decodeSendFast(text)
    const decoded = send !== undefined ? ({ _tag: "Right", right: send } as const) : decodeFrame(text)
    if (decoded._tag === "Left") {
      this.sendError(decoded.left.id, decoded.left.error)
      return Effect.void
    }
    const frame = decoded.right
    // Suspended, so that a handler that throws while building its effect is a defect below.
    return Effect.suspend(() => this.handle(frame)).pipe(
      Effect.catchAll((e) => Effect.sync(() => this.sendError(frame.id, e))),
      Effect.catchAllDefect((d) => this.died("frame handler died", d)),
      Effect.asVoid
    )
  }

  /**
   * A defect in this socket's worker: the socket cannot be trusted to be in a known state,
   * so it is closed (1011) and the cause logged at error level, never left half alive.
   */
  private died(message: string, defect: unknown): Effect.Effect<void> {
    return Effect.zipRight(
      Effect.logError(message).pipe(Effect.annotateLogs("defect", String(defect).slice(0, 300))),
      Effect.sync(() => this.close(CloseCode.internal, "internal error"))
    )
  }

  /**
   * The worker: handles `first`, then each frame that arrived meanwhile, one at a time in
   * arrival order, and ends when none is left. It runs synchronously as far as it can, so
   * a frame that needs no I/O (or a pipelined write, whose ack is awaited elsewhere) is
   * handled before `onText` returns; an idle socket has no fiber at all.
   */
  private startWorker(first: string): void {
    const self = this
    this.busy = true
    const worker = this.fork(
      Effect.gen(function* () {
        let text: string | undefined = first
        while (text !== undefined && !self.closed) {
          yield* self.frame(text)
          text = self.nextWaiting()
        }
      }).pipe(
        // `frame` answers every failure it knows of; anything else (a throw outside the
        // handler: decoding, answering an error) must not leave the socket open and deaf.
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.void : self.died("frame worker died", Cause.squash(cause))
        ),
        Effect.ensuring(
          Effect.sync(() => {
            self.busy = false
            self.current = null
          })
        )
      )
    )
    // Still running (waiting on I/O): kept so that closing the socket can interrupt it.
    if (worker.unsafePoll() === null) this.current = worker
  }

  private nextWaiting(): string | undefined {
    const waiting = this.waiting
    if (waiting === null) return undefined
    const text = waiting.shift()
    if (waiting.length === 0) this.waiting = null
    return text
  }

  private release(): void {
    if (this.closed) return
    this.closed = true
    this.waiting = null
    const self = this
    const { chat, hub } = this.deps
    // Not started inline: release may be called from inside the frame fiber itself (a slow
    // consumer found by a send), before `startWorker` has recorded it as `current`. On the
    // next tick `current` and `acks` are known, and they end before the hub and presence are
    // released, so an interrupted subscribe cannot re-add what was just removed.
    this.deps.fork(
      Effect.gen(function* () {
        if (self.current !== null) yield* Fiber.interrupt(self.current)
        if (self.acks !== null) yield* Fiber.interruptAll([...self.acks])
        for (const sub of self.subs.drain()) {
          yield* hub.leave(sub.room, self)
          // Only subscriptions that were announced (head read, lastSeq set) are withdrawn.
          if (sub.lastSeq >= 0) yield* chat.unsubscribed(self.user, sub.room)
        }
        yield* chat.disconnected(self.user)
      }),
      { immediate: false }
    )
  }

  // --- Session --------------------------------------------------------------------------

  close(code: number, reason: string): void {
    if (this.closed) return
    this.release()
    try {
      this.link.close(code, reason)
    } catch {
      // Already closing: nothing to do.
    }
  }

  onText(text: string): void {
    if (this.closed) return
    const { maxFrameBytes, inboxCapacity } = this.deps.limits
    // One UTF-16 unit is at most 3 UTF-8 bytes: count bytes only when that bound is passed.
    if (text.length * 3 > maxFrameBytes && new TextEncoder().encode(text).length > maxFrameBytes) {
      this.close(CloseCode.policy, `frame over ${maxFrameBytes} bytes`)
      return
    }
    if (!this.busy) {
      // A valid send frame with nothing ahead of it needs no worker: handled right here.
      const send = decodeSendFast(text)
      if (send !== undefined) {
        try {
          if (this.submitSend(send)) return
        } catch (defect) {
          // As a worker's defect: the socket is closed (1011), never left half alive.
          this.fork(this.died("frame handler died", defect))
          return
        }
      }
      return this.startWorker(text)
    }
    const waiting = (this.waiting ??= [])
    if (waiting.length >= inboxCapacity) this.close(CloseCode.policy, "too many frames in flight")
    else waiting.push(text)
  }

  onBinary(): void {
    this.sendError(undefined, new BadRequest({ message: "binary frames are not supported; send JSON text" }))
  }

  onClosed(): void {
    this.release()
  }
}
