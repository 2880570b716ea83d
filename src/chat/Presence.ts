/**
 * Who is online: per room (live subscriptions) and per user (open sockets), across the
 * cluster. The booleans answer "first"/"last" across every node, so exactly one node
 * announces a user's arrival or departure. Presence must never stop messages: its methods
 * do not fail; an implementation that lost its shared state answers from what this node
 * knows and reports "stale".
 *
 * The in-process implementation is here (one node: this node is the cluster); the Redis
 * one is src/redis/RedisPresence.ts.
 */
import { Context, Effect, Layer } from "effect"
import type { RoomId, UserId } from "../../core/model.ts"
import { makePresenceCounts } from "./PresenceCounts.ts"

export type PresenceStatus = "ok" | "stale"

export interface Presence {
  /** One more live subscription of `user` to `room`; true when it is the user's first in the cluster. */
  readonly join: (room: RoomId, user: UserId) => Effect.Effect<boolean>
  /** One subscription fewer; true when it was the user's last in the cluster. */
  readonly leave: (room: RoomId, user: UserId) => Effect.Effect<boolean>
  /** The users with a live subscription to `room`, in no particular order. */
  readonly online: (room: RoomId) => Effect.Effect<ReadonlyArray<UserId>>
  /** Which of `users` have a live socket anywhere (those who need no push notification). */
  readonly onlineUsers: (users: ReadonlyArray<UserId>) => Effect.Effect<ReadonlySet<UserId>>
  /** A socket of `user` opened; true when it is the user's first in the cluster. */
  readonly connected: (user: UserId) => Effect.Effect<boolean>
  /** A socket of `user` closed; true when it was the user's last in the cluster. */
  readonly disconnected: (user: UserId) => Effect.Effect<boolean>
  /**
   * Open sockets of `user`: across the cluster where presence is shared (Redis), this
   * node's alone otherwise, or while the shared view is unavailable. For the per-user cap.
   */
  readonly sockets: (user: UserId) => Effect.Effect<number>
  /** Whether `user` has a socket open on this node, plain: such a user is online, no lookup needed. */
  readonly connectedHere: (user: UserId) => boolean
  readonly status: Effect.Effect<PresenceStatus>
}

export class PresenceTag extends Context.Tag("chat/Presence")<PresenceTag, Presence>() {}

export const makeLocal = (): Presence => {
  const counts = makePresenceCounts()
  return {
    join: (room, user) => Effect.sync(() => counts.join(room, user) === 0),
    leave: (room, user) => Effect.sync(() => counts.leave(room, user) === 1),
    online: (room) => Effect.sync(() => counts.usersIn(room)),
    onlineUsers: (users) => Effect.sync(() => new Set(users.filter((u) => counts.sockets(u) > 0))),
    connected: (user) => Effect.sync(() => counts.connect(user) === 0),
    disconnected: (user) => Effect.sync(() => counts.disconnect(user) === 1),
    sockets: (user) => Effect.sync(() => counts.sockets(user)),
    connectedHere: (user) => counts.sockets(user) > 0,
    status: Effect.succeed("ok")
  }
}

export const layerLocal: Layer.Layer<PresenceTag> = Layer.sync(PresenceTag, makeLocal)
