/**
 * Creating and loading rooms. A room exists once its head exists (created with IF NOT EXISTS);
 * member rows are idempotent writes with a known timestamp.
 *
 * Direct rooms: the pair's row is claimed with IF NOT EXISTS and names the room, its creation
 * time and write timestamp, so every caller who finds the pair can finish creating the room
 * exactly as its creator would (members first, then the head): a creator that dies half-way
 * leaves nothing a later call cannot complete, and concurrent callers never see a room without
 * its members.
 */
import { Clock, Effect, Option } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { Role, Room, RoomId, UserId } from "../../core/model.ts"
import type { NewGroupRoom, RoomHead } from "../ChatStore.ts"
import { byteOrder } from "../byteOrder.ts"
import type { Applier } from "./apply.ts"
import type { CqlClient, Statement } from "./CqlClient.ts"
import { loadHead } from "./head.ts"
import { date, iso, member, num, str } from "./rows.ts"
import * as S from "./statements.ts"
import type { WriteClock } from "./writeClock.ts"

export interface RoomsContext {
  readonly cql: CqlClient
  readonly applier: Applier
  readonly writeClock: WriteClock
}

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** Members in the order every store answers: joined first, then user id in byte order. */
const memberOrder = (a: { user: string; joinedAt: string }, b: { user: string; joinedAt: string }) =>
  a.joinedAt !== b.joinedAt ? (a.joinedAt < b.joinedAt ? -1 : 1) : byteOrder(a.user, b.user)

export const loadRoom = (ctx: RoomsContext, operation: string, room: RoomId): Effect.Effect<Option.Option<RoomHead>, StoreError> =>
  Effect.gen(function* () {
    const head = yield* loadHead(ctx.cql, operation, room)
    if (head === undefined) return Option.none()
    // A batch claimed but not yet written (its writer may have died) is written before anyone sees the room.
    yield* ctx.applier.ensureApplied(room, head)
    const members = (yield* ctx.cql.allRows(operation, S.LOAD_MEMBERS, [room])).map(member).sort(memberOrder)
    const value: Room = {
      id: room,
      kind: head.kind,
      ...(head.name !== undefined ? { name: head.name } : {}),
      members: members.map((m) => ({ user: m.user, role: m.role })),
      createdAt: head.createdAt,
      lastSeq: head.lastSeq
    }
    return Option.some({ room: value, members: new Map(members.map((m) => [m.user, m.role])), epoch: head.epoch })
  })

const mustLoadRoom = (ctx: RoomsContext, operation: string, room: RoomId) =>
  Effect.flatMap(loadRoom(ctx, operation, room), (head) =>
    Option.match(head, {
      onNone: () => Effect.fail(new StoreError({ operation, cause: new Error(`room ${room} has no head`) })),
      onSome: (h) => Effect.succeed(h.room)
    })
  )

/** The member rows of a new membership: the room's partition and the user's. */
const memberWrites = (room: RoomId, users: ReadonlyArray<{ user: UserId; role: Role }>, joinedAt: string, ts: number) => {
  const at = date(joinedAt)
  const roomRows: Array<Statement> = users.map((u) => ({ query: S.INSERT_MEMBER, params: [room, u.user, u.role, at, ts] }))
  const userRows = users.map((u): ReadonlyArray<Statement> => [
    { query: S.INSERT_USER_ROOM, params: [u.user, room, u.role, at, ts] }
  ])
  return [roomRows, ...userRows]
}

const writeAll = (cql: CqlClient, operation: string, groups: ReadonlyArray<ReadonlyArray<Statement>>) =>
  Effect.forEach(groups, (g) => cql.write(operation, g), { concurrency: 16, discard: true })

export const createGroupRoom = (ctx: RoomsContext, input: NewGroupRoom) =>
  Effect.gen(function* () {
    const now = yield* nowIso
    const ts = ctx.writeClock()
    // The head first: an id that is already taken must not get members added to its room.
    const created = yield* ctx.cql.lwt("createGroupRoom", [
      { query: S.CREATE_HEAD, params: [input.id, "group", input.name, date(now), date(now), ts] }
    ])
    if (created._tag !== "Applied") {
      return yield* new StoreError({
        operation: "createGroupRoom",
        cause: created._tag === "NotApplied" ? new Error("room id already taken") : created.cause
      })
    }
    const others = [...new Set(input.members)].filter((u) => u !== input.owner)
    const members = [
      { user: input.owner, role: "owner" as Role },
      ...others.map((user) => ({ user, role: "member" as Role }))
    ]
    yield* writeAll(ctx.cql, "createGroupRoom", memberWrites(input.id, members, now, ts))
    return {
      id: input.id,
      kind: "group",
      name: input.name,
      members: members
        .map((m) => ({ ...m, joinedAt: now }))
        .sort(memberOrder)
        .map((m) => ({ user: m.user, role: m.role })),
      createdAt: now,
      lastSeq: 0
    } satisfies Room
  })

interface Pair {
  readonly room: RoomId
  readonly createdAt: string
  readonly writeTs: number
}

const pairOf = (row: Record<string, unknown>): Pair => ({
  room: str(row.room_id) as RoomId,
  createdAt: iso(row.created_at),
  writeTs: num(row.write_ts)
})

/** Members first, then the head: once the head is visible, its members are too. */
const finishDirectRoom = (ctx: RoomsContext, pair: Pair, lo: UserId, hi: UserId) =>
  Effect.gen(function* () {
    const users = [...new Set([lo, hi])].map((user) => ({ user, role: "member" as Role }))
    yield* writeAll(ctx.cql, "findOrCreateDirectRoom", memberWrites(pair.room, users, pair.createdAt, pair.writeTs))
    const at = date(pair.createdAt)
    const created = yield* ctx.cql.lwt("findOrCreateDirectRoom", [
      { query: S.CREATE_HEAD, params: [pair.room, "direct", undefined, at, at, pair.writeTs] }
    ])
    if (created._tag === "Unknown") return yield* new StoreError({ operation: "findOrCreateDirectRoom", cause: created.cause })
  })

export const findOrCreateDirectRoom = (ctx: RoomsContext, a: UserId, b: UserId, newId: RoomId) =>
  Effect.gen(function* () {
    const operation = "findOrCreateDirectRoom"
    // The pair in byte order, so (a, b) and (b, a) find the same row.
    const [lo, hi] = byteOrder(a, b) <= 0 ? [a, b] : [b, a]
    const [found] = yield* ctx.cql.rows(operation, S.FIND_DIRECT, [lo, hi])
    if (found !== undefined) {
      const pair = pairOf(found)
      const existing = yield* loadRoom(ctx, operation, pair.room)
      const complete = Option.exists(existing, (h) => h.members.has(lo) && h.members.has(hi))
      if (Option.isSome(existing) && complete) return { room: existing.value.room, created: false }
      yield* finishDirectRoom(ctx, pair, lo, hi)
      return { room: yield* mustLoadRoom(ctx, operation, pair.room), created: false }
    }
    const now = yield* nowIso
    const ts = ctx.writeClock()
    const claim = yield* ctx.cql.lwt(operation, [{ query: S.CLAIM_DIRECT, params: [lo, hi, newId, date(now), ts] }])
    let pair: Pair
    let created: boolean
    if (claim._tag === "Applied") {
      pair = { room: newId, createdAt: now, writeTs: ts }
      created = true
    } else if (claim._tag === "NotApplied") {
      pair = pairOf(claim.current)
      created = false
    } else {
      // Unknown outcome: the serial read shows whose claim stands.
      const [row] = yield* ctx.cql.rows(operation, S.FIND_DIRECT, [lo, hi], { serial: true })
      if (row === undefined) return yield* new StoreError({ operation, cause: claim.cause })
      pair = pairOf(row)
      created = pair.room === newId
    }
    yield* finishDirectRoom(ctx, pair, lo, hi)
    return { room: yield* mustLoadRoom(ctx, operation, pair.room), created }
  })
