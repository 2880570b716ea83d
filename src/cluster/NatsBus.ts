/**
 * The room bus over NATS: committed events on the public `chat.room.<room>.events`
 * subject (the WebSocket `event` frame, byte for byte), ephemeral frames on the room's
 * signals subject. A node subscribes only to rooms its own sockets are subscribed to.
 *
 * Core NATS may drop a message (slow consumer, reconnect). That costs no event: the
 * socket session sees the seq jump at the next event and fills the gap from storage,
 * and a reconnecting client resumes with `since`.
 */
import { Effect, Layer, Option, Schema } from "effect"
import type { NatsConnection } from "nats"
import { RoomBusTag, type BusMessage, type RoomBus } from "../bus/RoomBus.ts"
import type { ChatEvent, RoomId, UserId } from "../../core/model.ts"
import { readSignal, Signal, typingSignal } from "../protocol/cluster.ts"
import { decodeEventFrameValue } from "../protocol/fastCluster.ts"
import { EventFrame, eventFrame, presenceFrame } from "../protocol/serverFrames.ts"
import { attempt, Nats } from "./Nats.ts"
import * as Subjects from "./subjects.ts"
import type { Subjects as Names } from "./subjects.ts"

const decodeEventFrame = Schema.decodeUnknownOption(EventFrame)
const decodeSignalFrame = Schema.decodeUnknownOption(Signal)

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A committed event from the public events subject, or None when it does not decode (dropped). */
const decodeEvent = (text: string): Option.Option<ChatEvent> => {
  const json = parse(text)
  // The hand-written check first (src/protocol/fastCluster.ts), the Schema for anything else.
  const fast = decodeEventFrameValue(json)
  return fast !== undefined ? Option.some(fast) : decodeEventSlow(json)
}

const decodeEventSlow = (json: unknown): Option.Option<ChatEvent> =>
  Option.map(decodeEventFrame(json), (v) => ({
    room: v.room as RoomId,
    seq: v.seq,
    ts: v.ts,
    kind: v.kind,
    actor: v.actor as UserId,
    data: v.data
  }))

/** A typing, presence or read signal, or None when it does not decode (dropped: signals are ephemeral). */
const decodeSignal = (text: string): Option.Option<BusMessage> =>
  Option.map(decodeSignalFrame(parse(text)), (v): BusMessage => {
    const room = v.room as RoomId
    const user = v.user as UserId
    switch (v.type) {
      case "typing":
        return { _tag: "Typing", room, user, ...(v.origin !== undefined ? { origin: v.origin } : {}) }
      case "presence":
        return { _tag: "Presence", room, user, online: v.online }
      case "read":
        return { _tag: "Read", room, user, seq: v.seq, ...(v.origin !== undefined ? { origin: v.origin } : {}) }
    }
  })

export const makeNatsBus = (nc: NatsConnection, subjects: Names = Subjects.defaults): RoomBus => ({
  publish: (room, message) => {
    switch (message._tag) {
      case "Event":
        return nc.publish(subjects.roomEvents(room), message.frame ?? eventFrame(message.event))
      case "Typing":
        return nc.publish(subjects.roomSignals(room), typingSignal(room, message.user, message.origin))
      case "Presence":
        return nc.publish(subjects.roomSignals(room), presenceFrame(room, message.user, message.online))
      case "Read":
        return nc.publish(subjects.roomSignals(room), readSignal(room, message.user, message.seq, message.origin))
    }
  },
  subscribe: (room: RoomId, listener) =>
    Effect.acquireRelease(
      Effect.gen(function* () {
        const events = nc.subscribe(subjects.roomEvents(room), {
          callback: (err, msg) => {
            if (err !== null) return
            const frame = msg.string()
            const event = decodeEvent(frame)
            if (Option.isSome(event)) listener({ _tag: "Event", event: event.value, frame })
          }
        })
        const signals = nc.subscribe(subjects.roomSignals(room), {
          callback: (err, msg) => {
            if (err !== null) return
            const signal = decodeSignal(msg.string())
            if (Option.isSome(signal)) listener(signal.value)
          }
        })
        // The server has the subscriptions before the caller reads the room's head.
        yield* attempt("flush", () => nc.flush()).pipe(Effect.ignore)
        return [events, signals] as const
      }),
      (subs) => Effect.sync(() => subs.forEach((s) => s.unsubscribe()))
    ).pipe(Effect.asVoid)
})

export const layer: Layer.Layer<RoomBusTag, never, Nats> = Layer.effect(
  RoomBusTag,
  Effect.map(Nats, (nats) => makeNatsBus(nats.nc, nats.subjects))
)
