/**
 * This process's presence: how many live subscriptions each user holds to each room, and
 * how many sockets each user has open. The in-process Presence answers from it alone; the
 * Redis one keeps it as the truth about this node and as its fallback.
 */
import type { RoomId, UserId } from "../../core/model.ts"

export interface PresenceCounts {
  /** Adds a subscription; answers the count before (0: the user's first here). */
  readonly join: (room: RoomId, user: UserId) => number
  /** Removes a subscription; answers the count before (1: the user's last here, 0: there was none). */
  readonly leave: (room: RoomId, user: UserId) => number
  /** Adds a socket; answers the count before. */
  readonly connect: (user: UserId) => number
  /** Removes a socket; answers the count before. */
  readonly disconnect: (user: UserId) => number
  readonly subscriptions: (room: RoomId, user: UserId) => number
  readonly sockets: (user: UserId) => number
  readonly usersIn: (room: RoomId) => ReadonlyArray<UserId>
  /** Every (room, user) with a live subscription here. */
  readonly roomEntries: () => ReadonlyArray<readonly [RoomId, UserId]>
  /** Every user with a socket here, with the number of sockets. */
  readonly userEntries: () => ReadonlyArray<readonly [UserId, number]>
}

export const makePresenceCounts = (): PresenceCounts => {
  const rooms = new Map<RoomId, Map<UserId, number>>()
  const users = new Map<UserId, number>()
  return {
    join: (room, user) => {
      let inRoom = rooms.get(room)
      if (inRoom === undefined) rooms.set(room, (inRoom = new Map()))
      const before = inRoom.get(user) ?? 0
      inRoom.set(user, before + 1)
      return before
    },
    leave: (room, user) => {
      const inRoom = rooms.get(room)
      const before = inRoom?.get(user) ?? 0
      if (inRoom === undefined || before === 0) return 0
      if (before > 1) inRoom.set(user, before - 1)
      else {
        inRoom.delete(user)
        if (inRoom.size === 0) rooms.delete(room)
      }
      return before
    },
    connect: (user) => {
      const before = users.get(user) ?? 0
      users.set(user, before + 1)
      return before
    },
    disconnect: (user) => {
      const before = users.get(user) ?? 0
      if (before > 1) users.set(user, before - 1)
      else users.delete(user)
      return before
    },
    subscriptions: (room, user) => rooms.get(room)?.get(user) ?? 0,
    sockets: (user) => users.get(user) ?? 0,
    usersIn: (room) => [...(rooms.get(room)?.keys() ?? [])],
    roomEntries: () => [...rooms].flatMap(([room, inRoom]) => [...inRoom.keys()].map((user) => [room, user] as const)),
    userEntries: () => [...users]
  }
}
