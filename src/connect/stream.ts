/**
 * One StreamMessages call: a hub member like a WebSocket subscription, with the same
 * ordered, gapless delivery (src/chat/orderedDelivery.ts), feeding an async iterable
 * instead of a socket. Bounded: a client that does not read is ended with
 * resource_exhausted rather than buffered without limit.
 */
import type { MessageInitShape } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { arrive, startCatchUp, type OrderedSink, type RoomSub } from "../chat/orderedDelivery.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { HubMember } from "../http/ws/Hub.ts"
import type { ChatError, StoreError } from "../../core/errors.ts"
import type { ChatEvent, RoomId, UserId } from "../../core/model.ts"
import type { StreamMessagesResponseSchema } from "../gen/chat/v1/chat_pb.ts"
import * as Convert from "./convert.ts"

export type StreamItem = MessageInitShape<typeof StreamMessagesResponseSchema>

let counter = 0
const noFrame = () => ""

export class MessageStream implements HubMember, OrderedSink {
  readonly id = `c${++counter}.${Date.now().toString(36)}`
  readonly sub: RoomSub
  private readonly queue: Array<StreamItem> = []
  private wake: (() => void) | null = null
  /** Set once the stream is over: undefined while open, null when it ended normally. */
  private ending: ChatError | null | undefined = undefined

  constructor(
    readonly user: UserId,
    room: RoomId,
    private readonly store: ChatStore,
    private readonly maxQueued: number,
    private readonly fork: (e: Effect.Effect<void>) => void,
    private readonly overflow: () => ChatError,
    private readonly replayFailed: (e: StoreError) => ChatError
  ) {
    this.sub = { room, lastSeq: -1, pending: [] }
  }

  get closed(): boolean {
    return this.ending !== undefined
  }

  isCurrent(sub: RoomSub): boolean {
    return !this.closed && sub === this.sub
  }

  emit(sub: RoomSub, event: ChatEvent): void {
    sub.lastSeq = event.seq
    this.push({ item: { case: "event", value: Convert.event(event) } })
    // The user left (or was removed) with this event: a former member sees nothing later.
    if (event.kind === "member.left" && (event.data as { user?: string }).user === this.user) this.end(null)
  }

  /** Queue an item for the client (the `subscribed` item first, then events). */
  push(item: StreamItem): void {
    if (this.closed) return
    if (this.queue.length >= this.maxQueued) return this.end(this.overflow())
    this.queue.push(item)
    this.wakeUp()
  }

  /** Start delivering from `lastSeq` (already set) up to the head `target`. */
  startAt(lastSeq: number, target: number): void {
    this.sub.lastSeq = lastSeq
    this.catchUp(target)
  }

  private catchUp(target: number): void {
    const replay = startCatchUp(this, this.store.events, this.sub, target, noFrame)
    if (replay !== undefined) this.fork(Effect.catchAll(replay, (e) => Effect.sync(() => this.end(this.replayFailed(e)))))
  }

  deliverEvent(event: ChatEvent, frame: string): void {
    if (this.closed) return
    const gapBefore = arrive(this, this.sub, event, frame)
    if (gapBefore !== undefined) this.catchUp(gapBefore)
  }

  deliverEphemeral(room: RoomId, frame: string): void {
    // Only once membership is confirmed (lastSeq set), as for sockets.
    if (this.closed || this.sub.lastSeq < 0) return
    const f = JSON.parse(frame) as { type: string; user: string; seq?: number; online?: boolean }
    if (f.type === "typing") this.push({ item: { case: "typing", value: { room, user: f.user } } })
    else if (f.type === "read") this.push({ item: { case: "read", value: { room, user: f.user, seq: BigInt(f.seq ?? 0) } } })
    else if (f.type === "presence") this.push({ item: { case: "presence", value: { room, user: f.user, online: f.online === true } } })
  }

  /** End the stream after what is queued: normally (null) or with an error. */
  end(error: ChatError | null): void {
    if (this.closed) return
    this.ending = error
    this.wakeUp()
  }

  private wakeUp(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }

  /** The items, until the stream ends or `signal` aborts (the client went away). */
  async *items(signal: AbortSignal): AsyncGenerator<StreamItem> {
    const onAbort = () => this.end(null)
    signal.addEventListener("abort", onAbort)
    try {
      for (;;) {
        const next = this.queue.shift()
        if (next !== undefined) {
          yield next
          continue
        }
        if (this.ending !== undefined) {
          if (this.ending !== null) throw this.ending
          return
        }
        await new Promise<void>((resolve) => (this.wake = resolve))
      }
    } finally {
      signal.removeEventListener("abort", onAbort)
    }
  }
}
