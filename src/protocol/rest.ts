/** One Schema per REST body and query. Decoded at the edge, like WebSocket frames. */
import { Schema } from "effect"
import { Body } from "./frames.ts"
import { ClientMsgId, noNulChars, Platform, UserId, wellFormed } from "../../core/model.ts"

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
const MAX_HISTORY_LIMIT = 200
export const HistoryQuery = Schema.Struct({
  before: Schema.optional(IntString(1, Number.MAX_SAFE_INTEGER)),
  limit: Schema.optional(IntString(1, MAX_HISTORY_LIMIT))
})

/** Decimal digits without a leading zero or sign: the only spelling `plainHistoryQuery` reads. */
const PLAIN_INT = /^[1-9][0-9]{0,15}$/
const plainInt = (s: string | undefined, max: number): number | undefined | null => {
  if (s === undefined) return undefined
  if (!PLAIN_INT.test(s)) return null
  const n = Number(s)
  return n <= max ? n : null
}

/**
 * The history page's query decoded without the Schema, when it is in its plain form (each of
 * `before` and `limit` absent or plain decimal digits within its bounds); undefined for
 * anything else, which then goes through `HistoryQuery` for its value or its error. Every
 * query this accepts, HistoryQuery decodes to the same value (tests/unit/rest-plain.test.ts);
 * it exists because the Schema walk and its fiber were a share of a history page's CPU.
 */
export const plainHistoryQuery = (
  query: Readonly<Record<string, string>>
): { readonly before: number | undefined; readonly limit: number | undefined } | undefined => {
  const before = plainInt(query.before, Number.MAX_SAFE_INTEGER)
  const limit = plainInt(query.limit, MAX_HISTORY_LIMIT)
  return before === null || limit === null ? undefined : { before, limit }
}
