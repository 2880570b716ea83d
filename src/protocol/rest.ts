/** One Schema per REST body and query. Decoded at the edge, like WebSocket frames. */
import { Schema } from "effect"
import { Body } from "./frames.ts"
import { ClientMsgId, noNulChars, Platform, UserId, wellFormed } from "../domain/model.ts"

// Names, member ids and device tokens are stored as text, unencrypted: no NUL (see `noNulChars`).
// Every client string is well-formed UTF-16 (see `wellFormed`).
const RoomName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128), noNulChars(), wellFormed())
const Users = Schema.Array(UserId).pipe(Schema.maxItems(1000))

export const CreateRoom = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("direct"), with: UserId }),
  Schema.Struct({ kind: Schema.Literal("group"), name: RoomName, members: Schema.optional(Users) })
)

export const PatchRoom = Schema.Struct({ name: RoomName })
export const AddMembers = Schema.Struct({ users: Users.pipe(Schema.minItems(1)) })
export const PostMessage = Schema.Struct({
  body: Body,
  clientMsgId: ClientMsgId,
  replyTo: Schema.optional(Schema.Int.pipe(Schema.positive()))
})
export const PostRead = Schema.Struct({ seq: Schema.Int.pipe(Schema.nonNegative()) })
/** A push target's token. Exported so the `DELETE /v1/devices/:token` path parameter can be held to the same rule. */
export const DeviceToken = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4096), noNulChars(), wellFormed())
export const PostDevice = Schema.Struct({
  token: DeviceToken,
  platform: Platform
})

/** A query parameter holding an integer; its errors are worded for people (the bound, not the parse). */
const IntString = (min: number, max: number) =>
  Schema.NumberFromString.annotations({ message: () => "must be an integer" }).pipe(
    Schema.int({ message: () => "must be an integer" }),
    Schema.between(min, max, { message: () => `must be between ${min} and ${max}` })
  )

export const ListRoomsQuery = Schema.Struct({
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(1024), wellFormed())),
  limit: Schema.optional(IntString(1, 200))
})
export const HistoryQuery = Schema.Struct({
  before: Schema.optional(IntString(1, Number.MAX_SAFE_INTEGER)),
  limit: Schema.optional(IntString(1, 200))
})
