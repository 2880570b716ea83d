/**
 * One WebSocket connection: decodes frames, calls the chat service, and delivers each
 * subscribed room's events exactly once, in seq order.
 *
 * Delivery is closed by seq, not by timing: a room subscription records the last seq the
 * client has. Live events at or below it are dropped (duplicates); one just above it is
 * sent; one further ahead means a gap, filled from storage before anything newer goes
 * out. While a subscription is (re)playing from storage, live events wait in `pending`.
 *
 * Frames are handled in arrival order (each write is enqueued to its room before the next
 * frame is read), while the awaiting of acks runs concurrently, so a client may pipeline.
 */
import { Chunk, Effect, Exit, Fiber, FiberSet, Queue, Runtime, Scope } from "effect"
import type { Chat } from "../../chat/Chat.ts"
import type { ChatStore } from "../../../storage/ChatStore.ts"
import { BadRequest, type ChatError, type StoreError } from "../../domain/errors.ts"
import type { Ack, ChatEvent, RoomId, UserId } from "../../domain/model.ts"
import { CloseCode } from "../../protocol/errorMap.ts"
import { decodeFrame, type ClientFrame } from "../../protocol/frames.ts"
import { storeFailure } from "../../chat/Chat.ts"
import type { Hub, HubMember } from "./Hub.ts"
import { ackFrame, errorFrame, eventFrame, replyFrame } from "./serverFrames.ts"

/** What the runtime adapter gives a session: the socket, as little of it as needed. */
export interface SocketLink {
  readonly send: (text: string) => void
  readonly close: (code: number, reason: string) => void
  /** Bytes queued for this socket and not yet written to the network. */
  readonly bufferedAmount: () => number
}

export interface SessionLimits {
  readonly replayCap: number
  readonly maxSubscriptions: number
  readonly maxFrameBytes: number
  readonly maxBufferedBytes: number
  /** Frames read but not yet handled; more means the client floods: close 1008. */
  readonly inboxCapacity: number
}

export interface SessionDeps {
  readonly chat: Chat
  readonly store: ChatStore
  readonly hub: Hub
  readonly limits: SessionLimits
  readonly runtime: Runtime.Runtime<never>
  readonly onSlowConsumer: () => void
  readonly onError: (e: ChatError) => void
}

interface RoomSub {
  /** Last seq the client has (sent, or given as `since`). */
  lastSeq: number
  /** Live events held back while replaying from storage; null when live. */
  pending: Array<{ event: ChatEvent; frame: string }> | null
}

export interface Session {
  readonly onText: (text: string) => void
  readonly onBinary: () => void
  /** The socket closed (either side): release everything. */
  readonly onClosed: () => void
  /** Close from the server side. */
  readonly close: (code: number, reason: string) => void
}

/** A replay page: large enough to amortise a query, small enough to bound memory. */
const REPLAY_PAGE = 500

let counter = 0

export const makeSession = (user: UserId, link: SocketLink, deps: SessionDeps): Session => {
  const { chat, store, hub, limits } = deps
  const id = `s${++counter}.${Date.now().toString(36)}`
  const subs = new Map<RoomId, RoomSub>()
  let closed = false
  const runFork = Runtime.runFork(deps.runtime)

  const sendRaw = (text: string) => {
    if (closed) return
    // The buffer check comes before the send: memory per socket stays bounded by the
    // limit plus one frame, whatever the client's read speed.
    if (link.bufferedAmount() > limits.maxBufferedBytes) {
      deps.onSlowConsumer()
      close(CloseCode.policy, "slow consumer: outbound buffer full")
      return
    }
    link.send(text)
  }

  const sendError = (frameId: string | undefined, e: ChatError) => {
    deps.onError(e)
    sendRaw(errorFrame(frameId, e))
  }

  // --- ordered delivery ---------------------------------------------------------------

  /**
   * Send one event in order. When the event is this user leaving the room (left or
   * removed), the subscription ends right after it: a former member sees nothing later.
   */
  const emit = (sub: RoomSub, event: ChatEvent, frame: string) => {
    sub.lastSeq = event.seq
    sendRaw(frame)
    if (event.kind === "member.left" && (event.data as { user?: string }).user === user && subs.get(event.room) === sub) {
      subs.delete(event.room)
      runFork(Effect.zipRight(hub.leave(event.room, member), chat.unsubscribed(user, event.room)))
      sendRaw(replyFrame("unsubscribed", undefined, { room: event.room, reason: "no longer a member" }))
    }
  }

  /** Send every pending event that is next in line; answer the first gap, or done. */
  const flushReady = (sub: RoomSub): number | "done" => {
    const pending = sub.pending!
    pending.sort((a, b) => a.event.seq - b.event.seq)
    while (pending.length > 0) {
      const next = pending[0]
      if (next.event.seq <= sub.lastSeq) {
        pending.shift()
        continue
      }
      if (next.event.seq !== sub.lastSeq + 1) return next.event.seq
      pending.shift()
      emit(sub, next.event, next.frame)
      // The user left with that event: the subscription is over, nothing more goes out.
      if (subs.get(next.event.room) !== sub) break
    }
    sub.pending = null
    return "done"
  }

  /** Send events lastSeq+1 .. target from storage, then whatever arrived live meanwhile. */
  const catchUp = (room: RoomId, sub: RoomSub, target: number): Effect.Effect<void, StoreError> =>
    Effect.gen(function* () {
      let upTo = target
      while (!closed && subs.get(room) === sub) {
        while (sub.lastSeq < upTo) {
          const events = yield* store.events(room, sub.lastSeq, upTo, REPLAY_PAGE)
          if (events.length === 0) {
            // Storage has nothing there: the seqs are not committed (cannot happen with a
            // gapless store). Skip rather than spin; the log says which.
            yield* Effect.logWarning("replay found no events").pipe(
              Effect.annotateLogs({ room, after: sub.lastSeq, upTo })
            )
            sub.lastSeq = upTo
            break
          }
          for (const e of events) {
            if (subs.get(room) !== sub) return
            if (e.seq !== sub.lastSeq + 1) continue
            emit(sub, e, eventFrame(e))
          }
        }
        const gap = flushReady(sub)
        if (gap === "done") return
        upTo = gap - 1
      }
    })

  const startCatchUp = (room: RoomId, sub: RoomSub, target: number) => {
    sub.pending ??= []
    runFork(
      catchUp(room, sub, target).pipe(
        Effect.catchAll((e) => Effect.sync(() => close(CloseCode.internal, `replay failed: ${storeFailure(e).message}`)))
      )
    )
  }

  const member: HubMember = {
    id,
    user,
    deliverEvent: (event, frame) => {
      const { room, seq } = event
      const sub = subs.get(room)
      if (sub === undefined || closed) return
      if (sub.pending !== null) {
        sub.pending.push({ event, frame })
        return
      }
      if (seq <= sub.lastSeq) return
      if (seq === sub.lastSeq + 1) {
        emit(sub, event, frame)
        return
      }
      sub.pending = [{ event, frame }]
      startCatchUp(room, sub, seq - 1)
    },
    deliverEphemeral: (room, frame) => {
      // Only to confirmed subscriptions: until membership is checked (lastSeq still -1), a
      // non-member must not learn anything about the room.
      const sub = subs.get(room)
      if (sub !== undefined && sub.lastSeq >= 0) sendRaw(frame)
    }
  }

  // --- frame handlers -----------------------------------------------------------------

  const subscribe = (f: Extract<ClientFrame, { type: "subscribe" }>) =>
    Effect.gen(function* () {
      if (subs.has(f.room)) {
        return yield* Effect.fail(new BadRequest({ message: "already subscribed to this room" }))
      }
      if (subs.size >= limits.maxSubscriptions) {
        return yield* Effect.fail(new BadRequest({ message: `at most ${limits.maxSubscriptions} subscriptions per connection` }))
      }
      // Listen first, then read the head: every event after the head is then either
      // replayed or received live (or both, and the seq check drops the copy).
      const sub: RoomSub = { lastSeq: -1, pending: [] }
      subs.set(f.room, sub)
      yield* hub.join(f.room, member)
      const snapshot = yield* chat.access(user, f.room).pipe(
        Effect.tapError(() => Effect.zipRight(Effect.sync(() => subs.delete(f.room)), hub.leave(f.room, member)))
      )
      const head = snapshot.lastSeq
      if (f.since !== undefined && f.since > head) {
        subs.delete(f.room)
        yield* hub.leave(f.room, member)
        return yield* Effect.fail(new BadRequest({ message: `since ${f.since} is past the room's last seq ${head}` }))
      }
      yield* chat.subscribed(user, f.room)
      const truncated = f.since !== undefined && head - f.since > limits.replayCap
      sendRaw(replyFrame("subscribed", f.id, { room: f.room, seq: head, ...(truncated ? { truncated: true } : {}) }))
      if (f.since === undefined || truncated) {
        sub.lastSeq = head
        startCatchUp(f.room, sub, head)
      } else {
        sub.lastSeq = f.since
        startCatchUp(f.room, sub, head)
      }
    })

  const unsubscribe = (f: Extract<ClientFrame, { type: "unsubscribe" }>) =>
    Effect.gen(function* () {
      if (subs.delete(f.room)) {
        yield* hub.leave(f.room, member)
        yield* chat.unsubscribed(user, f.room)
      }
      sendRaw(replyFrame("unsubscribed", f.id, { room: f.room }))
    })

  /** Enqueue now (in frame order), answer when durable. */
  const pipelined = (frameId: string | undefined, pending: Effect.Effect<Effect.Effect<Ack, ChatError>, ChatError>) =>
    Effect.flatMap(pending, (awaitAck) =>
      FiberSet.run(
        inflight,
        awaitAck.pipe(
          Effect.match({
            onFailure: (e) => sendError(frameId, e),
            onSuccess: (ack) => sendRaw(ackFrame(frameId, ack))
          })
        )
      )
    )

  const handle = (f: ClientFrame): Effect.Effect<unknown, ChatError> => {
    switch (f.type) {
      case "ping":
        return Effect.sync(() => sendRaw(replyFrame("pong", f.id, {})))
      case "subscribe":
        return subscribe(f)
      case "unsubscribe":
        return unsubscribe(f)
      case "send":
        return pipelined(f.id, chat.send(user, f.room, { clientMsgId: f.clientMsgId, body: f.body, replyTo: f.replyTo }))
      case "edit":
        return pipelined(f.id, chat.edit(user, f.room, f.seq, f.body))
      case "delete":
        return pipelined(f.id, chat.remove(user, f.room, f.seq))
      case "react":
        return pipelined(f.id, chat.react(user, f.room, f.seq, f.emoji, f.remove === true))
      case "read":
        return Effect.map(chat.markRead(user, f.room, f.seq, id), (ack) => sendRaw(ackFrame(f.id, ack)))
      case "typing":
        return chat.typing(user, f.room, id)
      case "history":
        return Effect.map(chat.history(user, f.room, f.before, f.limit ?? 50), (page) =>
          sendRaw(replyFrame("history", f.id, { room: f.room, messages: page.messages, hasMore: page.hasMore }))
        )
    }
  }

  // --- inbox ----------------------------------------------------------------------------

  runFork(chat.connected(user))
  const inbox = Effect.runSync(Queue.dropping<string>(limits.inboxCapacity))
  const scope = Effect.runSync(Scope.make())
  const inflight = Effect.runSync(FiberSet.make<unknown, never>().pipe(Scope.extend(scope)))
  const worker = runFork(
    Effect.forever(
      Effect.gen(function* () {
        const texts = yield* Queue.takeBetween(inbox, 1, 64)
        for (const text of Chunk.toReadonlyArray(texts)) {
          const decoded = decodeFrame(text)
          if (decoded._tag === "Left") {
            sendError(decoded.left.id, decoded.left.error)
            continue
          }
          const frame = decoded.right
          yield* handle(frame).pipe(
            Effect.catchAll((e) => Effect.sync(() => sendError("id" in frame ? frame.id : undefined, e))),
            Effect.catchAllDefect((d) =>
              Effect.zipRight(
                Effect.logError("frame handler died").pipe(Effect.annotateLogs("defect", String(d).slice(0, 300))),
                Effect.sync(() => close(CloseCode.internal, "internal error"))
              )
            )
          )
        }
      })
    )
  )

  const release = () => {
    if (closed) return
    closed = true
    runFork(
      Effect.gen(function* () {
        yield* Fiber.interrupt(worker)
        yield* Scope.close(scope, Exit.void)
        for (const [room, sub] of subs) {
          yield* hub.leave(room, member)
          // Only subscriptions that were announced (head read, lastSeq set) are withdrawn.
          if (sub.lastSeq >= 0) yield* chat.unsubscribed(user, room)
        }
        subs.clear()
        yield* chat.disconnected(user)
      })
    )
  }

  const close = (code: number, reason: string) => {
    if (closed) return
    release()
    try {
      link.close(code, reason)
    } catch {
      // Already closing: nothing to do.
    }
  }

  return {
    onText: (text) => {
      if (closed) return
      // One UTF-16 unit is at most 3 UTF-8 bytes: count bytes only when that bound is passed.
      if (text.length * 3 > limits.maxFrameBytes && new TextEncoder().encode(text).length > limits.maxFrameBytes) {
        close(CloseCode.policy, `frame over ${limits.maxFrameBytes} bytes`)
        return
      }
      if (!inbox.unsafeOffer(text)) close(CloseCode.policy, "too many frames in flight")
    },
    onBinary: () => sendError(undefined, new BadRequest({ message: "binary frames are not supported; send JSON text" })),
    onClosed: release,
    close
  }
}
