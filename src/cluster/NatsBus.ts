/**
 * The room bus over NATS: committed events on the public `chat.room.<room>.events`
 * subject (the WebSocket `event` frame, byte for byte), ephemeral frames on the room's
 * signals subject. A node subscribes only to rooms its own sockets are subscribed to.
 *
 * Core NATS may drop a message (slow consumer, reconnect). That costs no event: the
 * socket session sees the seq jump at the next event and fills the gap from storage,
 * and a reconnecting client resumes with `since`.
 */
import { Effect, Layer } from "effect"
import type { NatsConnection } from "nats"
import { RoomBusTag, type BusMessage, type RoomBus } from "../bus/RoomBus.ts"
import type { ChatEvent, RoomId } from "../domain/model.ts"
import { eventFrame } from "../http/ws/serverFrames.ts"
import { attempt } from "./Nats.ts"
import * as Subjects from "./subjects.ts"
import type { Subjects as Names } from "./subjects.ts"

const decodeEvent = (text: string): ChatEvent | undefined => {
  try {
    const v = JSON.parse(text)
    return v?.type === "event" && typeof v.seq === "number" && typeof v.room === "string"
      ? { room: v.room, seq: v.seq, ts: v.ts, kind: v.kind, actor: v.actor, data: v.data }
      : undefined
  } catch {
    return undefined
  }
}

const decodeSignal = (text: string): BusMessage | undefined => {
  try {
    const v = JSON.parse(text)
    if (v?.type === "typing" && typeof v.user === "string") return { _tag: "Typing", room: v.room, user: v.user, origin: v.origin }
    if (v?.type === "presence" && typeof v.user === "string" && typeof v.online === "boolean")
      return { _tag: "Presence", room: v.room, user: v.user, online: v.online }
    if (v?.type === "read" && typeof v.seq === "number") return { _tag: "Read", room: v.room, user: v.user, seq: v.seq, origin: v.origin }
  } catch {
    // fall through: a malformed signal is dropped
  }
  return undefined
}

export const makeNatsBus = (nc: NatsConnection, subjects: Names = Subjects.defaults): RoomBus => ({
  publish: (room, message) =>
    Effect.sync(() => {
      switch (message._tag) {
        case "Event":
          return nc.publish(subjects.roomEvents(room), message.frame ?? eventFrame(message.event))
        case "Typing":
          return nc.publish(subjects.roomSignals(room), JSON.stringify({ type: "typing", room, user: message.user, origin: message.origin }))
        case "Presence":
          return nc.publish(
            subjects.roomSignals(room),
            JSON.stringify({ type: "presence", room, user: message.user, online: message.online })
          )
        case "Read":
          return nc.publish(
            subjects.roomSignals(room),
            JSON.stringify({ type: "read", room, user: message.user, seq: message.seq, origin: message.origin })
          )
      }
    }),
  subscribe: (room: RoomId, listener) =>
    Effect.acquireRelease(
      Effect.gen(function* () {
        const events = nc.subscribe(subjects.roomEvents(room), {
          callback: (err, msg) => {
            if (err !== null) return
            const frame = msg.string()
            const event = decodeEvent(frame)
            if (event !== undefined) listener({ _tag: "Event", event, frame })
          }
        })
        const signals = nc.subscribe(subjects.roomSignals(room), {
          callback: (err, msg) => {
            if (err !== null) return
            const signal = decodeSignal(msg.string())
            if (signal !== undefined) listener(signal)
          }
        })
        // The server has the subscriptions before the caller reads the room's head.
        yield* attempt("flush", () => nc.flush()).pipe(Effect.ignore)
        return [events, signals] as const
      }),
      (subs) => Effect.sync(() => subs.forEach((s) => s.unsubscribe()))
    ).pipe(Effect.asVoid)
})

export const layer = (nc: NatsConnection, subjects: Names = Subjects.defaults) => Layer.succeed(RoomBusTag, makeNatsBus(nc, subjects))
