/**
 * The server API for backends: send as a named member or as the system, create group rooms, add and
 * remove members, over REST (`/v1/server/*`) and Connect (`chat.v1.ServerService`).
 *
 * Credentials: API keys (CHAT_SERVICE_KEYS) sent as `authorization: Bearer <key>`, distinct
 * from user JWTs: a JWT is never a key and a key never verifies as a JWT, so neither opens
 * the other's API. The service acts as the user it names (sender, owner, actor), under that
 * user's rights: every rule stays in the chat service and the room actors.
 */
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect"
import { Cause, Effect, Exit, Option, Redacted, Runtime, Schema } from "effect"
import type { Context, Hono } from "hono"
import type { Chat } from "../chat/Chat.ts"
import { SendRequest } from "../cluster/Ingress.ts"
import { BadRequest, Internal, NotFound, Unauthorized, type ChatError } from "../../core/errors.ts"
import { RoomId as RoomIdSchema, SYSTEM_SENDER, UserId, type RoomId } from "../../core/model.ts"
import { ServerService } from "../gen/chat/v1/server_pb.ts"
import { connectErrorOf, errorPayload, statusOf } from "../protocol/errorMap.ts"
import { formatIssue } from "../protocol/frames.ts"
import * as Rest from "../protocol/rest.ts"
import * as Convert from "../connect/convert.ts"

/** Request schemas: the user-facing ones plus the user the service acts as. */
export const ServiceSend = Schema.Struct({
  ...SendRequest.fields,
  sender: Schema.optional(
    SendRequest.fields.sender.annotations({ description: "the member to send as; omit it when `asSystem` is true" })
  ),
  asSystem: Schema.optional(
    Schema.Boolean.annotations({
      description: `send as the system (sender "${SYSTEM_SENDER}") to any room, member or not; then \`sender\` must be absent`
    })
  )
})
export const ServiceCreateGroup = Schema.Struct({
  owner: UserId,
  name: Rest.PatchRoom.fields.name,
  members: Schema.optional(Schema.Array(UserId).pipe(Schema.maxItems(1000)))
})
export const ServiceAddMembers = Schema.Struct({ actor: UserId, ...Rest.AddMembers.fields })
export const ServiceRemoveQuery = Schema.Struct({ actor: UserId })

export interface ServerApiDeps {
  readonly chat: Chat
  readonly keys: ReadonlyArray<Redacted.Redacted<string>>
  readonly runtime: Runtime.Runtime<never>
  readonly onError: (e: ChatError) => void
}

const encoder = new TextEncoder()
/** Compares in time that does not depend on where the two differ (plain code: runs on Node and Deno alike). */
const sameSecret = (a: string, b: string): boolean => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

export const checkServiceKey = (keys: ReadonlyArray<Redacted.Redacted<string>>, header: string | undefined | null): Effect.Effect<void, Unauthorized> => {
  if (keys.length === 0) return Effect.fail(new Unauthorized({ message: "the server API is off: no CHAT_SERVICE_KEYS configured" }))
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "")
  if (m === null) return Effect.fail(new Unauthorized({ message: "missing service key" }))
  let ok = false
  for (const key of keys) ok = sameSecret(Redacted.value(key), m[1]) || ok
  return ok ? Effect.void : Effect.fail(new Unauthorized({ message: "invalid service key" }))
}

const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown): Effect.Effect<A, BadRequest> =>
  Schema.decodeUnknown(schema, { onExcessProperty: "ignore" })(input).pipe(
    Effect.mapError((e) => new BadRequest({ message: formatIssue(e) }))
  )
const roomOf = (room: string): Effect.Effect<RoomId, NotFound> =>
  Effect.mapError(decode(RoomIdSchema, room), () => new NotFound({ message: "room not found" }))

/** The operations, shared by both surfaces. */
const operations = (chat: Chat) => ({
  send: (room: string, input: unknown) =>
    Effect.gen(function* () {
      const r = yield* roomOf(room)
      const { sender, asSystem, ...rest } = yield* decode(ServiceSend, input)
      if (asSystem === true) {
        if (sender !== undefined) return yield* new BadRequest({ message: "give either sender or asSystem, not both" })
        return yield* Effect.flatten(chat.sendAsSystem(r, rest))
      }
      if (sender === undefined) return yield* new BadRequest({ message: "sender is required (or asSystem: true)" })
      return yield* Effect.flatten(chat.send(sender, r, rest))
    }),
  createGroup: (input: unknown) =>
    Effect.flatMap(decode(ServiceCreateGroup, input), (v) => chat.createGroup(v.owner, v.name, v.members ?? [])),
  addMembers: (room: string, input: unknown) =>
    Effect.gen(function* () {
      const r = yield* roomOf(room)
      const v = yield* decode(ServiceAddMembers, input)
      return yield* chat.addMembers(v.actor, r, v.users)
    }),
  removeMember: (room: string, user: string, input: unknown) =>
    Effect.gen(function* () {
      const r = yield* roomOf(room)
      const target = yield* Effect.mapError(decode(UserId, user), () => new NotFound({ message: "not a member" }))
      const v = yield* decode(ServiceRemoveQuery, input)
      return yield* chat.removeMember(v.actor, r, target)
    })
})

export const mountServerRest = (app: Hono<any>, deps: ServerApiDeps): void => {
  const run = Runtime.runPromiseExit(deps.runtime)
  const ops = operations(deps.chat)
  const respond = async (c: Context, effect: Effect.Effect<unknown, ChatError>, status: 200 | 201) => {
    const exit = await run(Effect.zipRight(checkServiceKey(deps.keys, c.req.header("authorization")), effect))
    if (Exit.isSuccess(exit)) return c.json(exit.value as object, status)
    const f = Cause.failureOption(exit.cause)
    const e = Option.isSome(f) ? f.value : new Internal({ message: "internal error" })
    deps.onError(e)
    if (e._tag === "RateLimited") c.header("Retry-After", String(Math.ceil(e.retryAfterMs / 1000)))
    return c.json({ error: errorPayload(e) }, statusOf(e) as 400)
  }
  const json = (c: Context) =>
    Effect.tryPromise({ try: () => c.req.json(), catch: () => new BadRequest({ message: "body is not valid JSON" }) })

  app.post("/v1/server/rooms", (c) => respond(c, Effect.flatMap(json(c), ops.createGroup), 201))
  app.post("/v1/server/rooms/:room/messages", (c) =>
    respond(c, Effect.flatMap(json(c), (b) => ops.send(c.req.param("room"), b)), 201)
  )
  app.post("/v1/server/rooms/:room/members", (c) =>
    respond(c, Effect.flatMap(json(c), (b) => ops.addMembers(c.req.param("room"), b)), 200)
  )
  app.delete("/v1/server/rooms/:room/members/:user", (c) =>
    respond(c, ops.removeMember(c.req.param("room"), c.req.param("user"), c.req.query()), 200)
  )
}

export const registerServerService = (router: ConnectRouter, deps: ServerApiDeps): ConnectRouter => {
  const run = Runtime.runPromiseExit(deps.runtime)
  const ops = operations(deps.chat)
  const call = async <A>(ctx: HandlerContext, effect: Effect.Effect<A, ChatError>): Promise<A> => {
    const exit = await run(Effect.zipRight(checkServiceKey(deps.keys, ctx.requestHeader.get("authorization")), effect))
    if (Exit.isSuccess(exit)) return exit.value
    const f = Cause.failureOption(exit.cause)
    const e = Option.isSome(f) ? f.value : new Internal({ message: "internal error" })
    deps.onError(e)
    throw connectErrorOf(e)
  }
  return router.service(ServerService, {
    sendMessageAs: (req, ctx) =>
      call(
        ctx,
        Effect.map(
          ops.send(req.room, {
            // proto3: an empty sender is an absent one.
            ...(req.sender !== "" ? { sender: req.sender } : {}),
            ...(req.asSystem ? { asSystem: true } : {}),
            clientMsgId: req.clientMsgId,
            body: req.body,
            ...(req.replyTo !== undefined ? { replyTo: Number(req.replyTo) } : {})
          }),
          (ack) => ({ ack: Convert.ack(ack) })
        )
      ),
    createGroupRoom: (req, ctx) =>
      call(ctx, Effect.map(ops.createGroup({ owner: req.owner, name: req.name, members: req.members }), (r) => ({ room: Convert.room(r) }))),
    addRoomMembers: (req, ctx) =>
      call(ctx, Effect.map(ops.addMembers(req.room, { actor: req.actor, users: req.users }), (r) => ({ room: Convert.room(r) }))),
    removeRoomMember: (req, ctx) =>
      call(ctx, Effect.map(ops.removeMember(req.room, req.user, { actor: req.actor }), (ack) => ({ ack: Convert.ack(ack) })))
  })
}
