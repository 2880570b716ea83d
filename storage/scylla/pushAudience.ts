/**
 * ChatStore.pushAudience on ScyllaDB: a room's members and a user's devices live in
 * different partitions, so no one statement answers a claim. This asks room by room and
 * member by member, through the same reads as loadRoom (which first writes a claimed batch a
 * dead writer left, so the members are current) and listDevices: the cost the worker paid
 * per room before, now behind one call.
 */
import { Effect, Option } from "effect"
import type { StoreError } from "../../core/errors.ts"
import type { RoomId } from "../../core/model.ts"
import type { PushAudience } from "../ChatStore.ts"
import { listDevices } from "./devices.ts"
import { loadRoom, type RoomsContext } from "./rooms.ts"

/** Rooms read at once, and members of one room read at once. */
const CONCURRENCY = 8

export const pushAudience = (
  ctx: RoomsContext,
  rooms: ReadonlyArray<RoomId>
): Effect.Effect<ReadonlyMap<RoomId, PushAudience>, StoreError> =>
  Effect.map(
    Effect.forEach(
      [...new Set(rooms)],
      (room) =>
        Effect.flatMap(loadRoom(ctx, "pushAudience", room), (head) => {
          if (Option.isNone(head)) return Effect.succeed(undefined)
          const members = head.value.room.members.map((m) => m.user)
          return Effect.map(
            Effect.forEach(members, (user) => listDevices(ctx.cql, user), { concurrency: CONCURRENCY }),
            (devices) => [room, { members, devices: devices.flat() }] as const
          )
        }),
      { concurrency: CONCURRENCY }
    ),
    (found) => new Map(found.filter((entry) => entry !== undefined))
  )
