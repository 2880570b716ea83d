/**
 * This node's fan-out: one bus subscription per room that has local subscribers, and
 * for each bus message one serialisation, then the same string to every local socket.
 */
import { Deferred, Effect, Exit, Scope } from "effect"
import type { RoomBus, BusMessage } from "../../bus/RoomBus.ts"
import type { ChatEvent, RoomId } from "../../../core/model.ts"
import { eventFrame, presenceFrame, readFrame, typingFrame } from "../../protocol/serverFrames.ts"

/**
 * What the hub needs from a socket session. The hub calls these as methods (`m.deliverEvent`),
 * so a session can be a class instance, with no closures per socket.
 */
export interface HubMember {
  readonly id: string
  readonly user: string
  /** A committed event, already serialised. */
  deliverEvent(event: ChatEvent, frame: string): void
  /** An ephemeral frame (read, typing), already serialised. */
  deliverEphemeral(room: RoomId, frame: string): void
}

interface RoomFanout {
  /** The room's id as first joined: later joiners keep this string, not their own copy. */
  readonly room: RoomId
  readonly members: Set<HubMember>
  readonly scope: Scope.CloseableScope
  /** Completes once the bus subscription is live; joiners wait for it. */
  readonly ready: Deferred.Deferred<void>
}

export interface Hub {
  readonly join: (room: RoomId, member: HubMember) => Effect.Effect<void>
  readonly leave: (room: RoomId, member: HubMember) => Effect.Effect<void>
  /**
   * The id string the hub already keeps for `room`, or `room` itself: a subscriber that keeps
   * it shares one string per room (each subscribe frame decodes its own copy, ~56 bytes).
   */
  readonly canonical: (room: RoomId) => RoomId
  readonly rooms: () => number
}

export const makeHub = (bus: RoomBus): Hub => {
  const rooms = new Map<RoomId, RoomFanout>()

  const dispatch = (fanout: RoomFanout) => (message: BusMessage) => {
    switch (message._tag) {
      case "Event": {
        const frame = message.frame ?? eventFrame(message.event)
        for (const m of fanout.members) m.deliverEvent(message.event, frame)
        return
      }
      case "Read": {
        const frame = readFrame(message.room, message.user, message.seq)
        for (const m of fanout.members) if (m.id !== message.origin) m.deliverEphemeral(message.room, frame)
        return
      }
      case "Presence": {
        const frame = presenceFrame(message.room, message.user, message.online)
        for (const m of fanout.members) if (m.user !== message.user) m.deliverEphemeral(message.room, frame)
        return
      }
      case "Typing": {
        // Not echoed to any socket of the typist: their other devices know they are typing.
        const frame = typingFrame(message.room, message.user)
        for (const m of fanout.members) if (m.user !== message.user) m.deliverEphemeral(message.room, frame)
        return
      }
    }
  }

  return {
    join: (room, member) =>
      Effect.suspend(() => {
        // The common case (the room already has local subscribers) without a generator: it
        // runs once per subscribe, and connection bursts are where garbage adds up.
        const existing = rooms.get(room)
        if (existing !== undefined) {
          existing.members.add(member)
          return Deferred.await(existing.ready)
        }
        return Effect.gen(function* () {
          const scope = yield* Scope.make()
          const fanout: RoomFanout = { room, members: new Set([member]), scope, ready: yield* Deferred.make<void>() }
          // Registered before the (possibly remote) subscription is made, so that concurrent
          // joiners share it; they wait on `ready` so none reads the room's head too early.
          rooms.set(room, fanout)
          yield* Scope.extend(bus.subscribe(room, dispatch(fanout)), scope)
          yield* Deferred.succeed(fanout.ready, undefined)
        })
      }),
    leave: (room, member) =>
      Effect.suspend(() => {
        const fanout = rooms.get(room)
        if (fanout === undefined) return Effect.void
        fanout.members.delete(member)
        if (fanout.members.size > 0) return Effect.void
        rooms.delete(room)
        return Scope.close(fanout.scope, Exit.void)
      }),
    canonical: (room) => rooms.get(room)?.room ?? room,
    rooms: () => rooms.size
  }
}
