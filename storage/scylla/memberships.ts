/**
 * A member's own state: role, pin and read position. The read position is written with the
 * seq as its write timestamp, so it only ever moves forward, without a read-before-write race.
 */
import { Effect, Option } from "effect"
import type { StoreError } from "../../core/errors.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import type { Membership, ReadMark } from "../ChatStore.ts"
import type { CqlClient } from "./CqlClient.ts"
import { loadHeadSummary } from "./head.ts"
import { unreadCount } from "./roomList.ts"
import { num, str } from "./rows.ts"
import * as S from "./statements.ts"

const isMember = (row: Record<string, unknown> | undefined): row is Record<string, unknown> =>
  row !== undefined && row.role !== null && row.role !== undefined

const readPosition = (cql: CqlClient, operation: string, room: RoomId, user: UserId) =>
  Effect.map(cql.rows(operation, S.READ_POSITION, [user, room]), ([row]) => (row === undefined ? 0 : num(row.read_seq)))

export const getMembership = (
  cql: CqlClient,
  room: RoomId,
  user: UserId
): Effect.Effect<Option.Option<Membership>, StoreError> =>
  Effect.map(
    Effect.all([cql.rows("getMembership", S.MEMBERSHIP, [user, room]), readPosition(cql, "getMembership", room, user)], {
      concurrency: 2
    }),
    ([[row], readSeq]) =>
      isMember(row) ? Option.some({ role: str(row.role) as Role, readSeq, pinned: row.pinned === true }) : Option.none()
  )

/**
 * Forward only and never past the room's last seq; answers the position now stored (0 for
 * non-members) and the messages this call moved over (ReadMark: counted from the position
 * it read, so two concurrent marks may both count the same messages).
 */
export const markRead = (cql: CqlClient, room: RoomId, user: UserId, seq: number): Effect.Effect<ReadMark, StoreError> =>
  Effect.gen(function* () {
    const [[membership], head, current] = yield* Effect.all(
      [
        cql.rows("markRead", S.MEMBERSHIP, [user, room]),
        loadHeadSummary(cql, "markRead", room),
        readPosition(cql, "markRead", room, user)
      ],
      { concurrency: 3 }
    )
    if (!isMember(membership) || head === undefined) return { seq: 0, marked: 0 }
    const target = Math.min(seq, head.lastSeq)
    if (target <= current) return { seq: current, marked: 0 }
    yield* cql.write("markRead", [{ query: S.ADVANCE_READ, params: [target, target, user, room] }])
    // Read back: a concurrent markRead may have stored a higher position.
    const [stored, marked] = yield* Effect.all(
      [readPosition(cql, "markRead", room, user), unreadCount(cql, "markRead", room, user, current, target)],
      { concurrency: 2 }
    )
    return { seq: stored, marked }
  })

export const setPinned = (cql: CqlClient, room: RoomId, user: UserId, pinned: boolean): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    // Only members have a pin: an update would otherwise create a row for a non-member.
    const [row] = yield* cql.rows("setPinned", S.MEMBERSHIP, [user, room])
    if (isMember(row)) yield* cql.write("setPinned", [{ query: S.SET_PINNED, params: [pinned, user, room] }])
  })
