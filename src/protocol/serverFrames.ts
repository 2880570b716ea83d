/**
 * The frames the server writes on a WebSocket, and the same event frame on the public
 * `chat.room.<room>.events` NATS subject: each defined once here as a Schema (the AsyncAPI
 * document is generated from these, and decoders of the NATS copies use them) and built by
 * the functions below, so every path emits the same shape.
 *
 * The builders write JSON by hand-picked fields rather than through Schema.encode: they run
 * once per event per room (and once per ack), and a Schema walk there is measurable on the
 * send path. tests/unit/serverFrames.test.ts checks that what they build decodes with the
 * Schemas.
 */
import { Schema } from "effect"
import type { ChatError } from "../../core/errors.ts"
import { EventKind, type Ack, type ChatEvent, type RoomId, type UserId } from "../../core/model.ts"
import { errorPayload } from "./errorMap.ts"
import * as R from "../openapi/responses.ts"

const Seq = Schema.Int.pipe(Schema.nonNegative())
const optional = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { exact: true })

export const EventFrame = Schema.Struct({
  type: Schema.Literal("event"),
  room: Schema.String,
  seq: Seq,
  ts: Schema.String,
  kind: EventKind,
  actor: Schema.String,
  data: Schema.Unknown.annotations({
    description: "message.*: the Message; reaction.*: {messageSeq, emoji, user}; member.*: {user, role}; room.updated: {name}"
  })
})

export const AckFrame = Schema.Struct({
  type: Schema.Literal("ack"),
  id: optional(Schema.String),
  room: Schema.String,
  seq: Seq,
  messageId: optional(Schema.String),
  ts: Schema.String,
  marked: optional(Seq.annotations({ description: "acks of `read` only: messages the read moved over that others sent and that are not deleted" }))
})

export const ErrorFrame = Schema.Struct({
  type: Schema.Literal("error"),
  id: optional(Schema.String),
  code: Schema.String,
  message: Schema.String,
  retryAfterMs: optional(Schema.Number)
})

export const SubscribedFrame = Schema.Struct({
  type: Schema.Literal("subscribed"),
  id: optional(Schema.String),
  room: Schema.String,
  seq: Seq,
  truncated: optional(Schema.Boolean)
})

export const UnsubscribedFrame = Schema.Struct({
  type: Schema.Literal("unsubscribed"),
  id: optional(Schema.String),
  room: Schema.String,
  reason: optional(Schema.String)
})

export const HistoryFrame = Schema.Struct({
  type: Schema.Literal("history"),
  id: optional(Schema.String),
  room: Schema.String,
  messages: Schema.Array(R.Message),
  hasMore: Schema.Boolean
})

export const PongFrame = Schema.Struct({ type: Schema.Literal("pong"), id: optional(Schema.String) })

export const ReadFrame = Schema.Struct({ type: Schema.Literal("read"), room: Schema.String, user: Schema.String, seq: Seq })

export const TypingFrame = Schema.Struct({ type: Schema.Literal("typing"), room: Schema.String, user: Schema.String })

export const PresenceFrame = Schema.Struct({
  type: Schema.Literal("presence"),
  room: Schema.String,
  user: Schema.String,
  online: Schema.Boolean
})

/** Every server frame, in the order the AsyncAPI document lists them. */
export const ServerFrames = [
  EventFrame,
  AckFrame,
  ErrorFrame,
  SubscribedFrame,
  UnsubscribedFrame,
  HistoryFrame,
  PongFrame,
  ReadFrame,
  TypingFrame,
  PresenceFrame
] as const

export const ServerFrame = Schema.Union(...ServerFrames)
export type ServerFrame = typeof ServerFrame.Type

export const eventFrame = (e: ChatEvent): string =>
  JSON.stringify({ type: "event", room: e.room, seq: e.seq, ts: e.ts, kind: e.kind, actor: e.actor, data: e.data })

export const ackFrame = (id: string | undefined, ack: Ack): string => JSON.stringify({ type: "ack", id, ...ack })

export const errorFrame = (id: string | undefined, e: ChatError): string =>
  JSON.stringify({ type: "error", ...(id !== undefined ? { id } : {}), ...errorPayload(e) })

/** subscribed, unsubscribed, history and pong: the request's id and the type's fields. */
export const replyFrame = (
  type: "subscribed" | "unsubscribed" | "history" | "pong",
  id: string | undefined,
  fields: Record<string, unknown>
): string => JSON.stringify({ type, ...(id !== undefined ? { id } : {}), ...fields })

export const readFrame = (room: RoomId, user: UserId, seq: number): string => JSON.stringify({ type: "read", room, user, seq })

export const typingFrame = (room: RoomId, user: UserId): string => JSON.stringify({ type: "typing", room, user })

export const presenceFrame = (room: RoomId, user: UserId, online: boolean): string =>
  JSON.stringify({ type: "presence", room, user, online })
