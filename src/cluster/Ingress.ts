/**
 * The public NATS ingress for internal services: request/reply on
 * `chat.room.<room>.send` with `{sender, body, clientMsgId, replyTo?}`, answered
 * `{ok: true, ack}` or `{ok: false, error: {code, message}}`. Served by a queue group, so
 * any node takes a request; the chat service forwards it to the room's owner. Who may
 * publish here is NATS's own permission system; the sender must be a room member.
 */
import { Effect, Either, Runtime, Schema, type Scope } from "effect"
import type { NatsConnection } from "nats"
import type { Chat } from "../chat/Chat.ts"
import { BadRequest, NotFound, type ChatError } from "../domain/errors.ts"
import { ClientMsgId, RoomId, UserId } from "../domain/model.ts"
import { errorPayload } from "../protocol/errorMap.ts"
import { Body, formatIssue } from "../protocol/frames.ts"
import { attempt } from "./Nats.ts"
import type { Subjects } from "./subjects.ts"
import { jsonTooDeep, tooDeepMessage } from "../protocol/jsonDepth.ts"

export const SendRequest = Schema.Struct({
  sender: UserId,
  body: Body,
  clientMsgId: ClientMsgId,
  replyTo: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

// Every error, not the first: a caller missing several fields learns of all of them at once.
const decodeRequest = Schema.decodeUnknownEither(SendRequest, { onExcessProperty: "ignore", errors: "all" })
const decodeRoom = Schema.decodeUnknownEither(RoomId)

const failure = (e: ChatError) => JSON.stringify({ ok: false, error: errorPayload(e) })

export const handleSend = (chat: Chat, subject: string, payload: string): Effect.Effect<string> =>
  Effect.gen(function* () {
    // `[<prefix>.]chat.room.<room>.send`: the room is the token before the last (a `*` match is one token).
    const room = decodeRoom(subject.split(".").at(-2))
    if (Either.isLeft(room)) return failure(new NotFound({ message: "room not found" }))
    if (jsonTooDeep(payload)) return failure(new BadRequest({ message: tooDeepMessage }))
    let json: unknown
    try {
      json = JSON.parse(payload)
    } catch {
      return failure(new BadRequest({ message: "payload is not valid JSON" }))
    }
    const input = decodeRequest(json)
    if (Either.isLeft(input)) return failure(new BadRequest({ message: formatIssue(input.left) }))
    const { sender, ...rest } = input.right
    const ack = yield* Effect.either(Effect.flatten(chat.send(sender, room.right, rest)))
    return Either.isRight(ack) ? JSON.stringify({ ok: true, ack: ack.right }) : failure(ack.left)
  })

export const serveIngress = (nc: NatsConnection, chat: Chat, subjects: Subjects): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const run = Runtime.runFork(yield* Effect.runtime<never>())
    const sub = nc.subscribe(subjects.roomSendAll, {
      queue: subjects.ingressQueue,
      callback: (err, msg) => {
        if (err !== null) return
        run(Effect.flatMap(handleSend(chat, msg.subject, msg.string()), (reply) => Effect.sync(() => msg.respond(reply))))
      }
    })
    yield* attempt("flush", () => nc.flush())
    yield* Effect.addFinalizer(() => Effect.promise(() => sub.drain().catch(() => undefined)))
  })
