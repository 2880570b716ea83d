/**
 * Gapless, exactly-once delivery of one room's committed events to one subscriber, shared
 * by the WebSocket session and the Connect StreamMessages handler.
 *
 * Delivery is closed by seq, not by timing: a subscription records the last seq the client
 * has. Live events at or below it are dropped (duplicates); one just above it is emitted;
 * one further ahead means a gap, filled from storage before anything newer goes out. While
 * a subscription is (re)playing from storage, live events wait in `pending`.
 *
 * Plain functions over a plain record and a sink, so a WebSocket session (a class with no
 * closures per socket) can use them without allocating per subscription.
 */
import type { Effect } from "effect"
import { Effect as E } from "effect"
import type { ChatEvent, RoomId } from "../../core/model.ts"

/** Events after `after` up to `upTo`, at most `limit` (the store's `events`, or Chat.replay). */
export type Replay<E> = (room: RoomId, after: number, upTo: number, limit: number) => Effect.Effect<ReadonlyArray<ChatEvent>, E>

export interface RoomSub {
  readonly room: RoomId
  /** Last seq the client has (sent, or given as `since`); -1 until membership is checked. */
  lastSeq: number
  /** Live events held back while replaying from storage; null when live. */
  pending: Array<{ event: ChatEvent; frame: string }> | null
}

/** Where a subscription's events go. Called as methods. */
export interface OrderedSink {
  /** The subscriber still wants `sub`'s events (not closed, not unsubscribed). */
  isCurrent(sub: RoomSub): boolean
  /** Deliver the next event in order; sets `sub.lastSeq = event.seq`. */
  emit(sub: RoomSub, event: ChatEvent, frame: string): void
}

/** A replay page: large enough to amortise a query, small enough to bound memory. */
export const REPLAY_PAGE = 500

/** Emit every pending event that is next in line; answer the first gap, or done. */
export const flushReady = (sink: OrderedSink, sub: RoomSub): number | "done" => {
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
    sink.emit(sub, next.event, next.frame)
    // The subscription ended with that event (the user left): nothing more goes out.
    if (!sink.isCurrent(sub)) break
  }
  sub.pending = null
  return "done"
}

/** Emit events lastSeq+1 .. target from storage, then whatever arrived live meanwhile. */
export const catchUp = <E>(
  sink: OrderedSink,
  replay: Replay<E>,
  sub: RoomSub,
  target: number,
  eventFrame: (e: ChatEvent) => string
): Effect.Effect<void, E> =>
  E.gen(function* () {
    const room = sub.room
    let upTo = target
    while (sink.isCurrent(sub)) {
      while (sub.lastSeq < upTo) {
        const events = yield* replay(room, sub.lastSeq, upTo, REPLAY_PAGE)
        if (events.length === 0) {
          // Storage has nothing there: the seqs are not committed (cannot happen with a
          // gapless store). Skip rather than spin; the log says which.
          yield* E.logWarning("replay found no events").pipe(E.annotateLogs({ room, after: sub.lastSeq, upTo }))
          sub.lastSeq = upTo
          break
        }
        for (const e of events) {
          if (!sink.isCurrent(sub)) return
          if (e.seq !== sub.lastSeq + 1) continue
          sink.emit(sub, e, eventFrame(e))
        }
      }
      const gap = flushReady(sink, sub)
      if (gap === "done") return
      upTo = gap - 1
    }
  })

/**
 * Bring `sub` up to `target` (storage first, then held live events). Answers the catch-up
 * to run in a fiber, or undefined when everything was flushed without I/O.
 */
export const startCatchUp = <E>(
  sink: OrderedSink,
  replay: Replay<E>,
  sub: RoomSub,
  target: number,
  eventFrame: (e: ChatEvent) => string
): Effect.Effect<void, E> | undefined => {
  sub.pending ??= []
  if (sub.lastSeq >= target) {
    // Nothing to read from storage (a fresh subscribe at the head): flush what arrived live
    // meanwhile without a fiber; one only if that shows a gap.
    if (!sink.isCurrent(sub)) return undefined
    const gap = flushReady(sink, sub)
    if (gap === "done") return undefined
    target = gap - 1
  }
  return catchUp(sink, replay, sub, target, eventFrame)
}

/**
 * A live event for `sub`: emitted now, held while a replay runs, or dropped as a
 * duplicate. Answers the seq a catch-up must reach first when it shows a gap.
 */
export const arrive = (sink: OrderedSink, sub: RoomSub, event: ChatEvent, frame: string): number | undefined => {
  if (sub.pending !== null) {
    sub.pending.push({ event, frame })
    return undefined
  }
  if (event.seq <= sub.lastSeq) return undefined
  if (event.seq === sub.lastSeq + 1) {
    sink.emit(sub, event, frame)
    return undefined
  }
  sub.pending = [{ event, frame }]
  return event.seq - 1
}
