/**
 * The Connect/gRPC services (proto/chat/v1/chat.proto, proto/tokens/v1/tokens.proto) over
 * the same chat service as the WebSocket and REST gateways: inputs are decoded with the
 * same Schemas (src/protocol/rest.ts, frames.ts), errors are mapped in
 * src/protocol/errorMap.ts, and StreamMessages delivers like a WebSocket subscription.
 */
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect"
import { Cause, Effect, Exit, Option, Runtime, Schema } from "effect"
import type { Chat } from "../chat/Chat.ts"
import { storeFailure } from "../chat/Chat.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { BadRequest, Internal, NotFound, RateLimited, Unauthorized, Unavailable, type ChatError } from "../../core/errors.ts"
import { RoomId as RoomIdSchema, UserId as UserIdSchema, type RoomId, type UserId } from "../../core/model.ts"
import { ChatService } from "../gen/chat/v1/chat_pb.ts"
import { TokensService } from "../gen/tokens/v1/tokens_pb.ts"
import type { Hub } from "../http/ws/Hub.ts"
import { connectErrorOf } from "../protocol/errorMap.ts"
import { Body, Emoji, formatIssue } from "../protocol/frames.ts"
import * as Rest from "../protocol/rest.ts"
import * as Convert from "./convert.ts"
import { MessageStream } from "./stream.ts"

export interface ConnectDeps {
  readonly chat: Chat
  readonly store: ChatStore
  readonly hub: Hub
  readonly verify: (token: string) => Effect.Effect<UserId, Unauthorized>
  readonly runtime: Runtime.Runtime<never>
  /** Starts background fibers in the gateway's FiberSet, so none outlives the node. */
  readonly fork: (effect: Effect.Effect<void>) => unknown
  readonly limits: {
    readonly replayCap: number
    /** Items a stream holds for a client that does not read; beyond: resource_exhausted. */
    readonly maxStreamQueue: number
  }
  readonly onError: (e: ChatError) => void
  readonly isDraining: () => boolean
  /** Open StreamMessages calls, ended with `unavailable` when the node drains. */
  readonly streams: Set<MessageStream>
}

const bearer = (ctx: HandlerContext): string | undefined => {
  const m = /^Bearer\s+(\S+)$/i.exec(ctx.requestHeader.get("authorization") ?? "")
  return m ? m[1] : undefined
}

export const registerServices = (router: ConnectRouter, deps: ConnectDeps): ConnectRouter => {
  const run = Runtime.runPromiseExit(deps.runtime)
  const fork = (e: Effect.Effect<void>) => void deps.fork(e)

  /** Run a chat effect; a ChatError becomes its Connect error, a defect `internal`. */
  const perform = async <A>(effect: Effect.Effect<A, ChatError>): Promise<A> => {
    const exit = await run(effect)
    if (Exit.isSuccess(exit)) return exit.value
    const failure = Cause.failureOption(exit.cause)
    const error = Option.isSome(failure) ? failure.value : new Internal({ message: "internal error" })
    if (Option.isNone(failure)) {
      await run(Effect.logError("rpc failed").pipe(Effect.annotateLogs("cause", Cause.pretty(exit.cause).slice(0, 800))))
    }
    deps.onError(error)
    throw connectErrorOf(error)
  }

  const authenticate = (ctx: HandlerContext): Effect.Effect<UserId, Unauthorized> => {
    const token = bearer(ctx)
    return token === undefined ? Effect.fail(new Unauthorized({ message: "missing bearer token" })) : deps.verify(token)
  }

  /** An authenticated call: the user, then `f`. */
  const call = <A>(ctx: HandlerContext, f: (user: UserId) => Effect.Effect<A, ChatError>): Promise<A> =>
    perform(Effect.flatMap(authenticate(ctx), f))

  const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown): Effect.Effect<A, BadRequest> =>
    Schema.decodeUnknown(schema, { onExcessProperty: "ignore" })(input).pipe(
      Effect.mapError((e) => new BadRequest({ message: formatIssue(e) }))
    )
  // A malformed room id names no room: not_found, as over REST.
  const roomOf = (room: string): Effect.Effect<RoomId, NotFound> =>
    Effect.mapError(decode(RoomIdSchema, room), () => new NotFound({ message: "room not found" }))
  const seqOf = (seq: bigint, field: string): Effect.Effect<number, BadRequest> =>
    seq >= 1n && seq <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Effect.succeed(Number(seq))
      : Effect.fail(new BadRequest({ message: `${field}: must be a positive seq` }))
  const limitOf = (limit: number | undefined) =>
    limit === undefined || (limit >= 1 && limit <= 200)
      ? Effect.succeed(limit ?? 50)
      : Effect.fail(new BadRequest({ message: "limit: must be from 1 to 200" }))

  router.service(ChatService, {
    createRoom: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const k = req.kind
          const input = yield* decode(
            Rest.CreateRoom,
            k.case === "direct"
              ? { kind: "direct", with: k.value.withUser }
              : k.case === "group"
                ? { kind: "group", name: k.value.name, members: k.value.members }
                : {}
          )
          if (input.kind === "direct") {
            const { room, created } = yield* deps.chat.createDirect(user, input.with)
            return { room: Convert.room(room), created }
          }
          return { room: Convert.room(yield* deps.chat.createGroup(user, input.name, input.members ?? [])), created: true }
        })
      ),
    getRoom: (req, ctx) =>
      call(ctx, (user) =>
        Effect.map(Effect.flatMap(roomOf(req.room), (room) => deps.chat.getRoom(user, room)), (r) => ({ room: Convert.room(r) }))
      ),
    getRoomList: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const q = yield* decode(Rest.ListRoomsQuery, req.cursor !== undefined ? { cursor: req.cursor } : {})
          const page = yield* deps.chat.listRooms(user, q.cursor, yield* limitOf(req.limit))
          return {
            rooms: page.rooms.map(Convert.summary),
            ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {})
          }
        })
      ),
    renameRoom: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const { name } = yield* decode(Rest.PatchRoom, { name: req.name })
          return { room: Convert.room(yield* deps.chat.rename(user, room, name)) }
        })
      ),
    addMembers: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const { users } = yield* decode(Rest.AddMembers, { users: req.users })
          return { room: Convert.room(yield* deps.chat.addMembers(user, room, users)) }
        })
      ),
    leaveRoom: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const targets = req.participants.length === 0 ? [user] : yield* decode(Schema.Array(UserIdSchema), req.participants)
          const acks = []
          // One at a time, in the order given: each removal is its own committed event.
          for (const target of targets) acks.push(Convert.ack(yield* deps.chat.removeMember(user, room, target)))
          return { acks }
        })
      ),
    sendMessage: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const input = yield* decode(Rest.PostMessage, {
            body: req.body,
            clientMsgId: req.clientMsgId,
            ...(req.replyTo !== undefined ? { replyTo: Number(req.replyTo) } : {})
          })
          return { ack: Convert.ack(yield* Effect.flatten(deps.chat.send(user, room, input))) }
        })
      ),
    editMessage: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const body = yield* decode(Body, req.body)
          return { ack: Convert.ack(yield* Effect.flatten(deps.chat.edit(user, room, yield* seqOf(req.seq, "seq"), body))) }
        })
      ),
    deleteMessage: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          return { ack: Convert.ack(yield* Effect.flatten(deps.chat.remove(user, room, yield* seqOf(req.seq, "seq")))) }
        })
      ),
    reactToMessage: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const emoji = yield* Effect.mapError(decode(Emoji, req.emoji), (e) => new BadRequest({ message: `emoji: ${e.message}` }))
          const seq = yield* seqOf(req.seq, "seq")
          return { ack: Convert.ack(yield* Effect.flatten(deps.chat.react(user, room, seq, emoji, req.remove))) }
        })
      ),
    getMessagesFromRoom: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const before = req.before === undefined ? undefined : yield* seqOf(req.before, "before")
          const page = yield* deps.chat.history(user, room, before, yield* limitOf(req.limit))
          return { messages: page.messages.map(Convert.message), hasMore: page.hasMore }
        })
      ),
    markMessagesAsRead: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const room = yield* roomOf(req.room)
          const { seq } = yield* decode(Rest.PostRead, { seq: req.seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(req.seq) : -1 })
          const ack = yield* deps.chat.markRead(user, room, seq)
          return { seq: BigInt(ack.seq), ts: ack.ts, marked: BigInt(ack.marked) }
        })
      ),
    setPinned: (req, ctx) =>
      call(ctx, (user) => Effect.as(Effect.flatMap(roomOf(req.room), (room) => deps.chat.setPinned(user, room, req.pinned)), {})),
    sendTyping: (req, ctx) =>
      call(ctx, (user) => Effect.as(Effect.flatMap(roomOf(req.room), (room) => deps.chat.typing(user, room)), {})),
    getPresence: (req, ctx) =>
      call(ctx, (user) =>
        Effect.map(Effect.flatMap(roomOf(req.room), (room) => deps.chat.online(user, room)), (online) => ({ online: [...online] }))
      ),
    streamMessages: (req, ctx) => streamMessages(req.room, req.since, ctx)
  })

  async function* streamMessages(roomText: string, since: bigint | undefined, ctx: HandlerContext) {
    const { chat, hub, limits } = deps
    const user = await perform(
      Effect.flatMap(authenticate(ctx), (u) =>
        deps.isDraining() ? Effect.fail(new Unavailable({ message: "node is draining; connect elsewhere" })) : Effect.succeed(u)
      )
    )
    const room = await perform(roomOf(roomText))
    if (since !== undefined && (since < 0n || since > BigInt(Number.MAX_SAFE_INTEGER))) {
      await perform(Effect.fail(new BadRequest({ message: "since: must be a seq (>= 0)" })))
    }
    const stream = new MessageStream(
      user,
      room,
      deps.store,
      limits.maxStreamQueue,
      fork,
      () => new RateLimited({ message: "stream consumer too slow; resume with since", retryAfterMs: 1000 }),
      (e) => storeFailure(e)
    )
    deps.streams.add(stream)
    let announced = false
    try {
      // Listen first, then read the head: every event after the head is then either
      // replayed or received live (or both, and the seq check drops the copy).
      await perform(hub.join(room, stream))
      const head = await perform(Effect.map(chat.access(user, room), (s) => s.lastSeq))
      const from = since === undefined ? undefined : Number(since)
      if (from !== undefined && from > head) {
        await perform(Effect.fail(new BadRequest({ message: `since ${from} is past the room's last seq ${head}` })))
      }
      await perform(chat.subscribed(user, room))
      announced = true
      const truncated = from !== undefined && head - from > limits.replayCap
      stream.push({ item: { case: "subscribed", value: { room, seq: BigInt(head), truncated } } })
      stream.startAt(from === undefined || truncated ? head : from, head)
      for await (const item of stream.items(ctx.signal)) yield item
    } catch (e) {
      throw e instanceof ConnectError ? e : isChatError(e) ? (deps.onError(e), connectErrorOf(e)) : new ConnectError("internal error", Code.Internal)
    } finally {
      stream.end(null)
      deps.streams.delete(stream)
      fork(Effect.zipRight(hub.leave(room, stream), announced ? chat.unsubscribed(user, room) : Effect.void))
    }
  }

  router.service(TokensService, {
    registerToken: (req, ctx) =>
      call(ctx, (user) =>
        Effect.gen(function* () {
          const platform = Convert.platformOf(req.platform)
          const b = yield* decode(Rest.PostDevice, { token: req.token, platform })
          yield* deps.chat.registerDevice(user, b.token, b.platform)
          return {}
        })
      ),
    unregisterToken: (req, ctx) =>
      call(ctx, (user) =>
        Schema.is(Rest.DeviceToken)(req.token)
          ? Effect.as(deps.chat.unregisterDevice(user, req.token), {})
          : Effect.fail(new NotFound({ message: "device not found" }))
      ),
    listTokens: (_req, ctx) =>
      call(ctx, (user) => Effect.map(deps.chat.listDevices(user), (devices) => ({ devices: devices.map(Convert.device) })))
  })
  return router
}

const isChatError = (e: unknown): e is ChatError =>
  typeof e === "object" && e !== null && "_tag" in e && typeof (e as { message?: unknown }).message === "string"
