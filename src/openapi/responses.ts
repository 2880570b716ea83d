/**
 * Schemas of what the REST routes answer, for the OpenAPI document only: the handlers do
 * not decode their own output (it comes typed from the chat service), so these restate
 * core/model.ts (Room, Message, ...) and the error body of src/protocol/errorMap.ts.
 * The e2e suites check real answers against them (tests/unit/openapi.test.ts).
 */
import { Schema } from "effect"
import { Platform, Role, RoomKind } from "../../core/model.ts"

const Seq = Schema.Int.pipe(Schema.nonNegative())
const Ts = Schema.String.annotations({ description: "RFC 3339 timestamp" })

export const Member = Schema.Struct({ user: Schema.String, role: Role }).annotations({ identifier: "Member" })

export const Room = Schema.Struct({
  id: Schema.String.annotations({ format: "uuid" }),
  kind: RoomKind,
  name: Schema.optional(Schema.String),
  members: Schema.Array(Member),
  createdAt: Ts,
  lastSeq: Seq
}).annotations({ identifier: "Room" })

export const RoomSummary = Schema.Struct({
  id: Schema.String,
  kind: RoomKind,
  name: Schema.optional(Schema.String),
  pinned: Schema.Boolean,
  unread: Seq,
  lastActivityAt: Ts,
  lastMessage: Schema.optional(Schema.Struct({ seq: Seq, sender: Schema.String, body: Schema.String, ts: Ts }))
}).annotations({ identifier: "RoomSummary" })

export const RoomPage = Schema.Struct({
  rooms: Schema.Array(RoomSummary),
  nextCursor: Schema.optional(Schema.String)
}).annotations({ identifier: "RoomPage" })

export const Message = Schema.Struct({
  seq: Seq,
  id: Schema.String,
  room: Schema.String,
  sender: Schema.String,
  body: Schema.String,
  ts: Ts,
  replyTo: Schema.optional(Seq),
  clientMsgId: Schema.optional(Schema.String),
  editedAt: Schema.optional(Ts),
  deleted: Schema.optional(Schema.Boolean),
  reactions: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }))
}).annotations({ identifier: "Message" })

export const HistoryPage = Schema.Struct({ messages: Schema.Array(Message), hasMore: Schema.Boolean }).annotations({
  identifier: "HistoryPage"
})

export const Ack = Schema.Struct({ room: Schema.String, seq: Seq, messageId: Schema.optional(Schema.String), ts: Ts }).annotations({
  identifier: "Ack"
})

export const ReadAck = Schema.Struct({
  room: Schema.String,
  seq: Seq.annotations({ description: "the read position now stored (capped at the room's last seq)" }),
  ts: Ts,
  marked: Seq.annotations({
    description: "messages this read moved over that others sent and that are not deleted; 0 when the position did not move"
  })
}).annotations({ identifier: "ReadAck" })

export const Presence = Schema.Struct({ online: Schema.Array(Schema.String) }).annotations({ identifier: "Presence" })

export const Device = Schema.Struct({ user: Schema.String, token: Schema.String, platform: Platform, createdAt: Ts })
export const Devices = Schema.Struct({ devices: Schema.Array(Device) }).annotations({ identifier: "Devices" })

export const Error = Schema.Struct({
  error: Schema.Struct({
    code: Schema.Literal("bad_request", "unauthorized", "forbidden", "not_found", "too_large", "rate_limited", "conflict", "unavailable", "internal"),
    message: Schema.String,
    retryAfterMs: Schema.optional(Schema.Number)
  })
}).annotations({ identifier: "Error" })

export const Health = Schema.Struct({ status: Schema.Literal("ok") })
export const Ready = Schema.Struct({
  status: Schema.Literal("ok", "unavailable"),
  draining: Schema.Boolean,
  checks: Schema.Record({ key: Schema.String, value: Schema.String })
})
