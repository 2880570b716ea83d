/**
 * The replay-then-live delivery of one room to one subscriber (src/chat/orderedDelivery.ts),
 * on its own: no socket, no store, no service. A fake storage answers replays from an array.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ChatEvent, RoomId, UserId } from "../../core/model.ts"
import { arrive, REPLAY_PAGE, startCatchUp, type OrderedSink, type Replay, type RoomSub } from "../../src/chat/orderedDelivery.ts"

const room = "0190d7e4-0000-7000-8000-0000000000aa" as RoomId
const ev = (seq: number): ChatEvent => ({ room, seq, ts: "t", kind: "message.created", actor: "a" as UserId, data: { seq } })
const frameOf = (e: ChatEvent) => `f${e.seq}`

/** A sink that records what it emits; `stopAt` ends the subscription after that seq. */
const recorder = (stopAt = Infinity) => {
  const emitted: Array<number> = []
  const frames: Array<string> = []
  let current = true
  const sink: OrderedSink = {
    isCurrent: () => current,
    emit: (sub, e, frame) => {
      emitted.push(e.seq)
      frames.push(frame)
      sub.lastSeq = e.seq
      if (e.seq >= stopAt) current = false
    }
  }
  return { sink, emitted, frames, stop: () => (current = false) }
}

/** Storage holding seqs 1..head; records each replay call. */
const storage = (head: () => number) => {
  const calls: Array<[number, number, number]> = []
  const replay: Replay<never> = (_room, after, upTo, limit) =>
    Effect.sync(() => {
      calls.push([after, upTo, limit])
      const out: Array<ChatEvent> = []
      for (let s = after + 1; s <= Math.min(upTo, head()) && out.length < limit; s++) out.push(ev(s))
      return out
    })
  return { replay, calls }
}

const newSub = (lastSeq: number): RoomSub => ({ room, lastSeq, pending: null })

/** Runs a catch-up to the end, if one is needed. */
const run = (e: Effect.Effect<void, never> | undefined) => (e === undefined ? undefined : Effect.runSync(e))

describe("ordered delivery", () => {
  it("ordered delivery - live events in order are emitted at once; duplicates and older ones are dropped", () => {
    const { sink, emitted, frames } = recorder()
    const sub = newSub(3)
    for (const seq of [4, 4, 2, 5, 3, 6]) expect(arrive(sink, sub, ev(seq), `f${seq}`)).toBeUndefined()
    expect(emitted).toEqual([4, 5, 6])
    expect(frames).toEqual(["f4", "f5", "f6"])
  })

  it("ordered delivery - a live event ahead of the next seq answers the gap; the catch-up fills it from storage before the held event", () => {
    const { sink, emitted } = recorder()
    const { replay, calls } = storage(() => 9)
    const sub = newSub(2)
    expect(arrive(sink, sub, ev(6), "f6")).toBe(5)
    // Held while the gap is open: nothing out of order.
    expect(arrive(sink, sub, ev(7), "f7")).toBeUndefined()
    expect(emitted).toEqual([])
    run(startCatchUp(sink, replay, sub, 5, frameOf))
    expect(emitted).toEqual([3, 4, 5, 6, 7])
    expect(calls).toEqual([[2, 5, REPLAY_PAGE]])
    expect(sub.pending).toBeNull()
    // Live again.
    arrive(sink, sub, ev(8), "f8")
    expect(emitted.at(-1)).toBe(8)
  })

  it("ordered delivery - a subscribe with since replays to the head, holding live events that arrive meanwhile", () => {
    const { sink, emitted } = recorder()
    let head = 1200
    const { replay, calls } = storage(() => head)
    const sub = newSub(10)
    // The catch-up is set up before the live events arrive (as a subscribe does).
    const catchUp = startCatchUp(sink, replay, sub, head, frameOf)
    head = 1202
    arrive(sink, sub, ev(1202), "f1202")
    arrive(sink, sub, ev(1201), "f1201")
    run(catchUp)
    expect(emitted).toEqual(Array.from({ length: 1192 }, (_, i) => 11 + i))
    // Paged: never more than a page per read.
    expect(calls.every(([, , limit]) => limit === REPLAY_PAGE)).toBe(true)
    expect(calls.length).toBe(3)
  })

  it("ordered delivery - a fresh subscribe at the head needs no storage and no fiber", () => {
    const { sink, emitted } = recorder()
    const { replay, calls } = storage(() => 5)
    const sub = newSub(5)
    expect(startCatchUp(sink, replay, sub, 5, frameOf)).toBeUndefined()
    expect(sub.pending).toBeNull()
    arrive(sink, sub, ev(6), "f6")
    expect(emitted).toEqual([6])
    expect(calls).toEqual([])
  })

  it("ordered delivery - a held event that shows another gap is filled too, in one catch-up", () => {
    const { sink, emitted } = recorder()
    const { replay } = storage(() => 20)
    const sub = newSub(0)
    const catchUp = startCatchUp(sink, replay, sub, 3, frameOf)
    arrive(sink, sub, ev(9), "f9")
    run(catchUp)
    expect(emitted).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it("ordered delivery - nothing goes out after the subscription ends, mid-replay or mid-flush", () => {
    const a = recorder(4)
    const { replay } = storage(() => 10)
    const sub = newSub(0)
    const catchUp = startCatchUp(a.sink, replay, sub, 8, frameOf)
    arrive(a.sink, sub, ev(9), "f9")
    run(catchUp)
    expect(a.emitted).toEqual([1, 2, 3, 4])
  })

  it("ordered delivery - any interleaving of live events with duplicates, reordering and drops delivers 1..N once each, in order", () => {
    // A small deterministic generator (mulberry32): the same cases on every run.
    let state = 0x2545f491
    const random = () => {
      state = (state + 0x6d2b79f5) | 0
      let t = Math.imul(state ^ (state >>> 15), 1 | state)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(random() * 60)
      const since = Math.floor(random() * n)
      let head = Math.floor(random() * (n + 1))
      if (head < since) head = since
      const { sink, emitted } = recorder()
      const { replay } = storage(() => n)
      const sub = newSub(since)
      // Live copies: each seq after the subscribe's head 0..3 times, shuffled a little.
      const live: Array<number> = []
      for (let s = head + 1; s <= n; s++) {
        const copies = Math.floor(random() * 4)
        for (let c = 0; c < copies; c++) live.push(s)
      }
      for (let i = live.length - 1; i > 0; i--) {
        if (random() < 0.3) {
          const j = Math.max(0, i - 1 - Math.floor(random() * 3))
          ;[live[i], live[j]] = [live[j]!, live[i]!]
        }
      }
      let pendingCatchUp = startCatchUp(sink, replay, sub, head, frameOf)
      for (const seq of live) {
        // A catch-up in flight finishes at a random moment between live events.
        if (pendingCatchUp !== undefined && random() < 0.2) {
          run(pendingCatchUp)
          pendingCatchUp = undefined
        }
        const gap = arrive(sink, sub, ev(seq), `f${seq}`)
        if (gap !== undefined) {
          expect(pendingCatchUp).toBeUndefined()
          pendingCatchUp = startCatchUp(sink, replay, sub, gap, frameOf)
        }
      }
      run(pendingCatchUp)
      // Every seq the room has after `since` that was either stored by the subscribe's head or
      // seen live at least once (a gap is filled from storage), in order, once.
      const lastSeen = Math.max(head, ...live)
      const expected = Array.from({ length: Math.max(0, lastSeen - since) }, (_, i) => since + 1 + i)
      expect(emitted, `round ${round}`).toEqual(expected)
    }
  })
})
