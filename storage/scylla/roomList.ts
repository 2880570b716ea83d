/**
 * The room list: pinned first, then last activity, then id, with a keyset cursor.
 *
 * Cassandra cannot order one user's rooms by a value that changes on every message without
 * rewriting a clustering key per member per batch (a delete and an insert for each member of a
 * busy room). So the list reads the user's memberships (one partition: rooms_by_user) and the
 * head of each of those rooms (one row each, concurrently), sorts in memory and cuts the page
 * after the cursor. The cost grows with the number of rooms a user is in, not with traffic;
 * docs/scylla.md says when to change this. Unread counts and last messages are computed for the
 * page's rooms only.
 */
import { Effect } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { RoomId, RoomSummary, UserId } from "../../core/model.ts"
import type { RoomPage } from "../ChatStore.ts"
import { decodeRoomCursor, encodeRoomCursor, type RoomCursor } from "../cursor.ts"
import { bucketOf } from "./buckets.ts"
import type { CqlClient } from "./CqlClient.ts"
import { type HeadSummary, loadHeadSummary } from "./head.ts"
import { messagesBefore } from "./reads.ts"
import { num, str } from "./rows.ts"
import * as S from "./statements.ts"

const READ_CONCURRENCY = 16

/**
 * Unread counts stop here: counting reads the rows after the read position (seq, sender,
 * deleted only), so an abandoned room with a million new messages would cost a million rows per
 * list. Clients show this as "10000+".
 */
export const UNREAD_CAP = 10_000

/** Room list order: pinned first, then latest activity, then id. Negative: `a` comes first. */
const listOrder = (a: RoomCursor, b: RoomCursor): number =>
  a.pinned !== b.pinned
    ? a.pinned
      ? -1
      : 1
    : a.lastActivityAt !== b.lastActivityAt
      ? a.lastActivityAt > b.lastActivityAt
        ? -1
        : 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0

/** Messages with readSeq < seq <= lastSeq, not sent by `user`, not deleted; at most UNREAD_CAP. */
export const unreadCount = (cql: CqlClient, operation: string, room: RoomId, user: UserId, readSeq: number, lastSeq: number) =>
  Effect.gen(function* () {
    let count = 0
    for (let bucket = bucketOf(readSeq + 1); bucket <= bucketOf(lastSeq) && readSeq < lastSeq && count < UNREAD_CAP; bucket++) {
      const rows = yield* cql.allRows(operation, S.MESSAGE_SENDERS, [room, bucket, readSeq, lastSeq])
      for (const row of rows) if (row.deleted !== true && str(row.sender) !== user) count++
    }
    return Math.min(count, UNREAD_CAP)
  })

export const listRooms = (cql: CqlClient, user: UserId, cursor: string | undefined, limit: number) =>
  Effect.gen(function* () {
    const after = cursor === undefined ? undefined : decodeRoomCursor(cursor)
    if (cursor !== undefined && after === undefined) {
      return yield* new StoreError({ operation: "listRooms", cause: new Error("malformed room cursor") })
    }
    const [memberships, positions] = yield* Effect.all(
      [cql.allRows("listRooms", S.USER_ROOMS, [user]), cql.allRows("listRooms", S.READ_POSITIONS, [user])],
      { concurrency: 2 }
    )
    const readSeqs = new Map(positions.map((r) => [str(r.room_id), num(r.read_seq)] as const))
    const mine = memberships.filter((r) => r.role !== null && r.role !== undefined)
    const withHeads = yield* Effect.forEach(
      mine,
      (r) => {
        const id = str(r.room_id) as RoomId
        return Effect.map(loadHeadSummary(cql, "listRooms", id), (head) =>
          // A membership whose room never got its head (creation interrupted) is not listed.
          head === undefined ? [] : [{ key: { pinned: r.pinned === true, lastActivityAt: head.lastActivityAt, id }, head }]
        )
      },
      { concurrency: READ_CONCURRENCY }
    )
    const sorted = withHeads
      .flat()
      .filter((r) => after === undefined || listOrder(after, r.key) < 0)
      .sort((a, b) => listOrder(a.key, b.key))
    const page = sorted.slice(0, limit)
    const rooms = yield* Effect.forEach(
      page,
      ({ key, head }) => summary(cql, user, key, head, readSeqs.get(key.id) ?? 0),
      { concurrency: READ_CONCURRENCY }
    )
    const last = page[page.length - 1]
    return (sorted.length > limit && last !== undefined ? { rooms, nextCursor: encodeRoomCursor(last.key) } : { rooms }) satisfies RoomPage
  })

const summary = (cql: CqlClient, user: UserId, key: RoomCursor, head: HeadSummary, readSeq: number) =>
  Effect.map(
    Effect.all(
      [
        unreadCount(cql, "listRooms", key.id as RoomId, user, readSeq, head.lastSeq),
        messagesBefore(cql, "listRooms", key.id as RoomId, head.lastSeq + 1, 1, (m) => !m.deleted, 20)
      ],
      { concurrency: 2 }
    ),
    ([unread, [lastMessage]]): RoomSummary => ({
      id: key.id as RoomId,
      kind: head.kind,
      ...(head.name !== undefined ? { name: head.name } : {}),
      pinned: key.pinned,
      unread,
      lastActivityAt: head.lastActivityAt,
      ...(lastMessage !== undefined
        ? {
            lastMessage: {
              seq: lastMessage.seq,
              id: lastMessage.id,
              sender: lastMessage.sender,
              body: lastMessage.body ?? "",
              ts: lastMessage.ts
            }
          }
        : {})
    })
  )
