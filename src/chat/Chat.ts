/**
 * The chat service: what a user may do, independent of the wire it arrived on. The
 * WebSocket and REST gateways (and the NATS ingress) decode input, call these, and
 * encode the result. Writes go through the room's actor; reads go to the store once
 * the actor has confirmed membership (non-members get not_found, never forbidden, so
 * a room's existence is not revealed).
 */
import { Clock, Context, Effect, Layer, Option, type Types } from "effect"
import { makeTypingThrottle } from "./TypingThrottle.ts"
import type { RoomRegistry } from "../../actors/RoomRegistry.ts"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import { ChatStoreTag, type ChatStore, type HistoryPage, type RoomPage } from "../../storage/ChatStore.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import { decodeRoomCursor } from "../../storage/cursor.ts"
import { RoomBusTag, type RoomBus } from "../bus/RoomBus.ts"
import {
  BadRequest,
  Internal,
  NotFound,
  TooLarge,
  Unavailable,
  type ChatError,
  type StoreError
} from "../../core/errors.ts"
import { SYSTEM_SENDER, type Ack, type ChatEvent, type Device, type Platform, type ReadAck, type Room, type RoomId, type UserId } from "../../core/model.ts"
import { utf8 } from "../../core/util/base64.ts"
import { uuidv7 } from "../util/uuid.ts"
import { MembershipCacheTag, type MembershipCache } from "./MembershipCache.ts"
import { makeLocal as makeLocalPresence, PresenceTag, type Presence } from "./Presence.ts"
import { SendLimiterTag, type SendLimiter } from "./RateLimiter.ts"

export interface ChatLimits {
  readonly maxBodyBytes: number
  readonly maxGroupMembers: number
  /** A user's typing is relayed at most once per room per this many ms (0: every one). */
  readonly typingIntervalMs?: number
}

/** A write is two steps: enqueue (ordered per caller), then await the durable outcome. */
export type Pending<A> = Effect.Effect<Effect.Effect<A, ChatError>, ChatError>

export interface Chat {
  readonly send: (
    user: UserId,
    room: RoomId,
    input: { clientMsgId: string; body: string; replyTo?: number | undefined }
  ) => Pending<Ack>
  /**
   * `send` as plain code, for the WebSocket hot path: checks, enqueues to the room's actor and
   * answers through `reply` (once), with no Effect per message. False when this node cannot
   * (a rate limiter or router that needs I/O first): the caller then uses `send`.
   */
  readonly submitSend?: (
    user: UserId,
    room: RoomId,
    input: { clientMsgId: string; body: string; replyTo?: number | undefined },
    reply: (error: ChatError | undefined, ack?: Ack) => void
  ) => boolean
  /**
   * A send by a service as the system (SYSTEM_SENDER) to any room, member or not; the
   * server API's only. Idempotent per (system, clientMsgId) in the room; rate-limited per room.
   */
  readonly sendAsSystem: (
    room: RoomId,
    input: { clientMsgId: string; body: string; replyTo?: number | undefined }
  ) => Pending<Ack>
  readonly edit: (user: UserId, room: RoomId, seq: number, body: string) => Pending<Ack>
  readonly remove: (user: UserId, room: RoomId, seq: number) => Pending<Ack>
  readonly react: (user: UserId, room: RoomId, seq: number, emoji: string, remove: boolean) => Pending<Ack>
  readonly markRead: (user: UserId, room: RoomId, seq: number, origin?: string) => Effect.Effect<ReadAck, ChatError>
  readonly typing: (user: UserId, room: RoomId, origin?: string) => Effect.Effect<void, ChatError>
  /** The room as its actor sees it, if `user` is a member. */
  readonly access: (user: UserId, room: RoomId) => Effect.Effect<RoomSnapshot, ChatError>
  /**
   * Events after `after` up to `upTo` (at most `limit`), for a subscription catching up:
   * the gateway has checked access when it subscribed. Failures are client errors already.
   */
  readonly replay: (
    room: RoomId,
    after: number,
    upTo: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ChatEvent>, Unavailable | Internal>
  readonly history: (
    user: UserId,
    room: RoomId,
    before: number | undefined,
    limit: number
  ) => Effect.Effect<HistoryPage, ChatError>
  /**
   * `history` as plain code, for the REST history page: the same checks, page and errors,
   * answered through `reply` (once). False, with nothing done, when this node cannot answer
   * without I/O first (membership not cached in process, or a store without `historyNow`):
   * the caller then uses `history`.
   */
  readonly historyNow?: (
    user: UserId,
    room: RoomId,
    before: number | undefined,
    limit: number,
    reply: (error: ChatError | undefined, page?: HistoryPage) => void
  ) => boolean
  readonly createDirect: (user: UserId, other: UserId) => Effect.Effect<{ room: Room; created: boolean }, ChatError>
  readonly createGroup: (user: UserId, name: string, members: ReadonlyArray<UserId>) => Effect.Effect<Room, ChatError>
  readonly listRooms: (user: UserId, cursor: string | undefined, limit: number) => Effect.Effect<RoomPage, ChatError>
  readonly getRoom: (user: UserId, room: RoomId) => Effect.Effect<Room, ChatError>
  readonly rename: (user: UserId, room: RoomId, name: string) => Effect.Effect<Room, ChatError>
  readonly addMembers: (user: UserId, room: RoomId, users: ReadonlyArray<UserId>) => Effect.Effect<Room, ChatError>
  readonly removeMember: (user: UserId, room: RoomId, target: UserId) => Effect.Effect<Ack, ChatError>
  readonly setPinned: (user: UserId, room: RoomId, pinned: boolean) => Effect.Effect<void, ChatError>
  readonly registerDevice: (user: UserId, token: string, platform: Platform) => Effect.Effect<void, ChatError>
  readonly unregisterDevice: (user: UserId, token: string) => Effect.Effect<void, ChatError>
  readonly listDevices: (user: UserId) => Effect.Effect<ReadonlyArray<Device>, ChatError>
  /** Presence: a socket of `user` subscribed to / left `room` (announced on first / last). */
  readonly subscribed: (user: UserId, room: RoomId) => Effect.Effect<void>
  readonly unsubscribed: (user: UserId, room: RoomId) => Effect.Effect<void>
  readonly connected: (user: UserId) => Effect.Effect<void>
  readonly disconnected: (user: UserId) => Effect.Effect<void>
  /** Open sockets of `user` (cluster-wide with Redis presence), for the per-user cap. */
  readonly openSockets: (user: UserId) => Effect.Effect<number>
  /** Members of `room` with a live subscription to it, for a member. */
  readonly online: (user: UserId, room: RoomId) => Effect.Effect<ReadonlyArray<UserId>, ChatError>
}

export class ChatTag extends Context.Tag("chat/Chat")<ChatTag, Chat>() {}

/**
 * The rooms as the chat service reaches them: this node's actors (RoomRegistry) in
 * embedded mode, the router over the cluster in clustered mode.
 */
export class Rooms extends Context.Tag("chat/Rooms")<Rooms, RoomRegistry>() {}

/**
 * Store failures reach clients as `unavailable` (the write did not happen, a retry is
 * safe), except data that the configured master keys cannot open: retrying cannot help,
 * so that is `internal`, and the log names the key id that is missing.
 */
export const storeFailure = (e: StoreError): Unavailable | Internal =>
  e.operation === "decrypt" || e.operation === "encrypt"
    ? new Internal({ message: "stored data cannot be opened with the configured master keys; see the server log" })
    : new Unavailable({ message: `storage is unavailable (${e.operation}); retry` })

const describeCause = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null && "_tag" in cause) {
    const { _tag, keyId, kind, reason } = cause as { _tag: string; keyId?: string; kind?: string; reason?: string }
    return [_tag, kind && `${kind} key`, keyId && `id ${keyId}`, reason].filter(Boolean).join(" ")
  }
  return String(cause).slice(0, 300)
}

/** Logs what failed (operation, error kind, key ids) and never parameters or bodies. */
export const logStoreFailure = (e: StoreError) =>
  Effect.logError("store operation failed").pipe(
    Effect.annotateLogs({ operation: e.operation, cause: describeCause(e.cause) })
  )

const roomOf = (s: RoomSnapshot): Room => ({
  id: s.room,
  kind: s.kind,
  ...(s.name !== undefined ? { name: s.name } : {}),
  members: [...s.members].map(([user, role]) => ({ user, role })),
  createdAt: s.createdAt,
  lastSeq: s.lastSeq
})

/** SYSTEM_SENDER names the system's messages, never a member. */
const reserved = () => new BadRequest({ message: `"${SYSTEM_SENDER}" is reserved for messages sent as the system and cannot be a member` })

/** The Send op of a send: a fresh message id, the client's fields. */
const sendOp = (
  actor: UserId,
  input: { readonly clientMsgId: string; readonly body: string; readonly replyTo?: number | undefined }
): Extract<WriteOp, { _tag: "Send" }> => {
  const op: Types.Mutable<Extract<WriteOp, { _tag: "Send" }>> = {
    _tag: "Send",
    actor,
    messageId: uuidv7(),
    clientMsgId: input.clientMsgId,
    body: input.body
  }
  // Only when present, and without spreading a temporary object per send.
  if (input.replyTo !== undefined) op.replyTo = input.replyTo
  return op
}

const ackOf = (r: OpResult): Effect.Effect<Ack, ChatError> =>
  r._tag === "Rejected" ? Effect.fail(r.error) : Effect.succeed(r.ack)

export const make = (
  store: ChatStore,
  registry: RoomRegistry,
  bus: RoomBus,
  limiter: SendLimiter,
  limits: ChatLimits,
  presence: Presence = makeLocalPresence(),
  membershipCache?: MembershipCache
): Chat => {
  const typingThrottle = makeTypingThrottle(limits.typingIntervalMs ?? 0)
  const fromStore = <A>(e: Effect.Effect<A, StoreError>) =>
    e.pipe(Effect.tapError(logStoreFailure), Effect.mapError(storeFailure))

  const bodyTooLarge = (body: string): TooLarge | undefined =>
    // Cheap bound first: a UTF-8 character is at most 4 bytes.
    body.length * 4 <= limits.maxBodyBytes || utf8.encode(body).length <= limits.maxBodyBytes
      ? undefined
      : new TooLarge({ message: `body exceeds ${limits.maxBodyBytes} bytes` })
  const checkBody = (body: string) => {
    const tooLarge = bodyTooLarge(body)
    return tooLarge === undefined ? Effect.void : Effect.fail(tooLarge)
  }
  const submit = registry.submit
  const storeHistoryNow = store.historyNow
  const peekMembership = membershipCache?.peek
  const liveMembers = registry.members
  const tryTake = limiter.tryTake

  const write = (user: UserId, room: RoomId, op: WriteOp, limitKey: string = user): Pending<Ack> =>
    Effect.zipRight(
      limiter.take(limitKey),
      Effect.map(registry.write(room, op), (awaitResult) => Effect.flatMap(awaitResult, ackOf))
    )

  const access = (user: UserId, room: RoomId) =>
    Effect.flatMap(registry.snapshot(room), (s) =>
      s.members.has(user) ? Effect.succeed(s) : Effect.fail(new NotFound({ message: "room not found" }))
    )

  /**
   * Membership only (no head): from the shared cache when there is one, else from the
   * room's actor, whose answer then fills the cache. The owner invalidates the cache on
   * every membership change.
   */
  const authorize = (user: UserId, room: RoomId): Effect.Effect<void, ChatError> =>
    membershipCache === undefined
      ? Effect.asVoid(access(user, room))
      : Effect.flatMap(membershipCache.get(room, user), (cached) => {
          if (cached._tag === "Some") {
            return cached.value === "none" ? Effect.fail(new NotFound({ message: "room not found" })) : Effect.void
          }
          return Effect.flatMap(registry.snapshot(room), (s) =>
            Effect.zipRight(
              membershipCache.put(room, s.members),
              s.members.has(user) ? Effect.void : Effect.fail(new NotFound({ message: "room not found" }))
            )
          )
        })

  const now = () => new Date().toISOString()
  const awaitWrite = (p: Pending<Ack>) => Effect.flatten(p)

  return {
    ...(submit !== undefined && tryTake !== undefined
      ? {
          submitSend: (user, room, input, reply) => {
            // The checks of `send`, in its order: size, rate, then the room.
            const tooLarge = bodyTooLarge(input.body)
            if (tooLarge !== undefined) {
              reply(tooLarge)
              return true
            }
            // A limiter that cannot decide without I/O now (a shared bucket not seen here yet): `send`.
            const limited = tryTake(user)
            if (limited === false) return false
            const refused =
              limited ??
              submit(
                room,
                sendOp(user, input),
                (error, result) => {
                  if (error !== undefined) reply(error)
                  else if (result!._tag === "Rejected") reply(result!.error)
                  else reply(undefined, result!.ack)
                }
              )
            if (refused !== undefined) reply(refused)
            return true
          }
        } satisfies Pick<Chat, "submitSend">
      : {}),
    send: (user, room, input) =>
      Effect.zipRight(
        checkBody(input.body),
        write(user, room, sendOp(user, input))
      ),
    sendAsSystem: (room, input) =>
      Effect.zipRight(
        checkBody(input.body),
        write(
          SYSTEM_SENDER,
          room,
          { ...sendOp(SYSTEM_SENDER, input), system: true },
          // One bucket per room: a service announcing to many rooms is not throttled as one user.
          `${SYSTEM_SENDER}\u0000${room}`
        )
      ),
    edit: (user, room, seq, body) =>
      Effect.zipRight(checkBody(body), write(user, room, { _tag: "Edit", actor: user, seq, body })),
    remove: (user, room, seq) => write(user, room, { _tag: "Delete", actor: user, seq }),
    react: (user, room, seq, emoji, remove) => write(user, room, { _tag: "React", actor: user, seq, emoji, remove }),
    markRead: (user, room, seq, origin) =>
      Effect.gen(function* () {
        yield* authorize(user, room)
        // The store caps the position at the room's last seq.
        const { seq: stored, marked } = yield* fromStore(store.markRead(room, user, seq))
        bus.publish(room, { _tag: "Read", room, user, seq: stored, ...(origin ? { origin } : {}) })
        return { room, seq: stored, ts: now(), marked }
      }),
    typing: (user, room, origin) =>
      Effect.flatMap(authorize(user, room), () =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
          typingThrottle.admit(user, room, nowMs)
            ? Effect.sync(() => bus.publish(room, { _tag: "Typing", room, user, ...(origin ? { origin } : {}) }))
            : Effect.void
        )
      ),
    access,
    replay: (room, after, upTo, limit) => fromStore(store.events(room, after, upTo, limit)),
    history: (user, room, before, limit) =>
      Effect.flatMap(authorize(user, room), () => fromStore(store.history(room, before, limit))),
    ...(storeHistoryNow !== undefined && (peekMembership !== undefined || liveMembers !== undefined)
      ? {
          historyNow: (user, room, before, limit, reply) => {
            // `authorize`'s answer where it needs no I/O: the cache in process, else the
            // members of the room's actor when it runs here.
            let role = peekMembership?.(room, user)
            if (role === undefined) {
              const members = liveMembers?.(room)
              if (members !== undefined) role = members.get(user) ?? "none"
            }
            if (role === undefined) return false
            if (role === "none") {
              reply(new NotFound({ message: "room not found" }))
              return true
            }
            storeHistoryNow(room, before, limit, (error, page) => {
              if (error === undefined) return reply(undefined, page)
              Effect.runFork(logStoreFailure(error))
              reply(storeFailure(error))
            })
            return true
          }
        } satisfies Pick<Chat, "historyNow">
      : {}),
    createDirect: (user, other) =>
      user === other
        ? Effect.fail(new BadRequest({ message: "a direct room needs another user" }))
        : other === SYSTEM_SENDER
          ? Effect.fail(reserved())
          : fromStore(store.findOrCreateDirectRoom(user, other, uuidv7() as RoomId)),
    createGroup: (user, name, members) => {
      if (user === SYSTEM_SENDER || members.includes(SYSTEM_SENDER)) return Effect.fail(reserved())
      const others = [...new Set(members)].filter((m) => m !== user)
      if (others.length + 1 > limits.maxGroupMembers)
        return Effect.fail(new BadRequest({ message: `a group has at most ${limits.maxGroupMembers} members` }))
      return fromStore(store.createGroupRoom({ id: uuidv7() as RoomId, name, owner: user, members: others }))
    },
    listRooms: (user, cursor, limit) =>
      cursor !== undefined && decodeRoomCursor(cursor) === undefined
        ? Effect.fail(new BadRequest({ message: "cursor is not valid" }))
        : fromStore(store.listRooms(user, cursor, limit)),
    getRoom: (user, room) => Effect.map(access(user, room), roomOf),
    rename: (user, room, name) =>
      Effect.zipRight(awaitWrite(write(user, room, { _tag: "Rename", actor: user, name })), Effect.map(access(user, room), roomOf)),
    addMembers: (user, room, users) =>
      Effect.gen(function* () {
        if (users.includes(SYSTEM_SENDER)) return yield* Effect.fail(reserved())
        const s = yield* access(user, room)
        if (new Set([...s.members.keys(), ...users]).size > limits.maxGroupMembers)
          return yield* Effect.fail(new BadRequest({ message: `a group has at most ${limits.maxGroupMembers} members` }))
        yield* awaitWrite(write(user, room, { _tag: "AddMembers", actor: user, users }))
        return roomOf(yield* registry.snapshot(room))
      }),
    removeMember: (user, room, target) => awaitWrite(write(user, room, { _tag: "RemoveMember", actor: user, user: target })),
    setPinned: (user, room, pinned) =>
      Effect.flatMap(authorize(user, room), () => fromStore(store.setPinned(room, user, pinned))),
    registerDevice: (user, token, platform) => fromStore(store.registerDevice(user, token, platform)),
    unregisterDevice: (user, token) =>
      Effect.flatMap(fromStore(store.unregisterDevice(user, token)), (found) =>
        found ? Effect.void : Effect.fail(new NotFound({ message: "device not found" }))
      ),
    listDevices: (user) => fromStore(store.listDevices(user)),
    subscribed: (user, room) =>
      Effect.flatMap(presence.join(room, user), (first) =>
        first ? Effect.sync(() => bus.publish(room, { _tag: "Presence", room, user, online: true })) : Effect.void
      ),
    unsubscribed: (user, room) =>
      Effect.flatMap(presence.leave(room, user), (last) =>
        last ? Effect.sync(() => bus.publish(room, { _tag: "Presence", room, user, online: false })) : Effect.void
      ),
    connected: (user) => Effect.asVoid(presence.connected(user)),
    disconnected: (user) => Effect.asVoid(presence.disconnected(user)),
    openSockets: (user) => presence.sockets(user),
    online: (user, room) => Effect.flatMap(access(user, room), (s) =>
      Effect.map(presence.online(room), (users) => users.filter((u) => s.members.has(u)))
    )
  }
}

/** A MembershipCacheTag in context (Redis) is used; without one, every check asks the room's actor. */
export const layer = (
  limits: ChatLimits
): Layer.Layer<ChatTag, never, ChatStoreTag | Rooms | RoomBusTag | SendLimiterTag | PresenceTag> =>
  Layer.effect(
    ChatTag,
    Effect.gen(function* () {
      const cache = yield* Effect.serviceOption(MembershipCacheTag)
      return make(
        yield* ChatStoreTag,
        yield* Rooms,
        yield* RoomBusTag,
        yield* SendLimiterTag,
        limits,
        yield* PresenceTag,
        Option.getOrUndefined(cache)
      )
    })
  )
