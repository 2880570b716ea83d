/**
 * One Schema per inbound WebSocket frame. Frames are decoded here, at the edge: nothing
 * malformed reaches the chat service or an actor. Decoding first reads `type`, then the
 * frame's own schema, so a client gets an error that names the field at fault.
 */
import { Either, ParseResult, Schema } from "effect"
import { ClientMsgId, noNulChars, RoomId, wellFormed } from "../domain/model.ts"
import { BadRequest } from "../domain/errors.ts"
import { jsonTooDeep, tooDeepMessage } from "./jsonDepth.ts"

const Id = Schema.optional(Schema.String.pipe(Schema.maxLength(128)))
const PositiveSeq = Schema.Int.pipe(Schema.positive())
/** Stored as text, unencrypted: no NUL (see `noNulChars`). */
export const Emoji = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(32), noNulChars(), wellFormed())
/**
 * Size is checked in bytes against the configured limit by the chat service (too_large).
 * Encrypted before storage, so NUL is fine; an unpaired surrogate is not (it has no UTF-8
 * form: the stored text would differ from what was acknowledged).
 */
export const Body = Schema.String.pipe(wellFormed())

export const Subscribe = Schema.Struct({
  type: Schema.Literal("subscribe"),
  id: Id,
  room: RoomId,
  since: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
})
export const Unsubscribe = Schema.Struct({ type: Schema.Literal("unsubscribe"), id: Id, room: RoomId })
export const Send = Schema.Struct({
  type: Schema.Literal("send"),
  id: Id,
  room: RoomId,
  clientMsgId: ClientMsgId,
  body: Body,
  replyTo: Schema.optional(PositiveSeq)
})
export const Edit = Schema.Struct({ type: Schema.Literal("edit"), id: Id, room: RoomId, seq: PositiveSeq, body: Body })
export const Delete = Schema.Struct({ type: Schema.Literal("delete"), id: Id, room: RoomId, seq: PositiveSeq })
export const React = Schema.Struct({
  type: Schema.Literal("react"),
  id: Id,
  room: RoomId,
  seq: PositiveSeq,
  emoji: Emoji,
  remove: Schema.optional(Schema.Boolean)
})
export const Read = Schema.Struct({ type: Schema.Literal("read"), id: Id, room: RoomId, seq: Schema.Int.pipe(Schema.nonNegative()) })
export const Typing = Schema.Struct({ type: Schema.Literal("typing"), id: Id, room: RoomId })
export const History = Schema.Struct({
  type: Schema.Literal("history"),
  id: Id,
  room: RoomId,
  before: Schema.optional(PositiveSeq),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 200, { message: () => "must be between 1 and 200" })))
})
export const Ping = Schema.Struct({ type: Schema.Literal("ping"), id: Id })

export const ClientFrame = Schema.Union(Subscribe, Unsubscribe, Send, Edit, Delete, React, Read, Typing, History, Ping)
export type ClientFrame = typeof ClientFrame.Type

/**
 * A Map, not an object literal: a frame's `type` is client input, and an object would
 * answer `toString`, `constructor` or `__proto__` with something that is not a schema.
 */
const byType: ReadonlyMap<string, Schema.Schema<any, any>> = new Map(Object.entries({
  subscribe: Subscribe,
  unsubscribe: Unsubscribe,
  send: Send,
  edit: Edit,
  delete: Delete,
  react: React,
  read: Read,
  typing: Typing,
  history: History,
  ping: Ping
}))

/** The `id` of a frame if it has a usable one, so an error can still be correlated. */
export const frameId = (raw: unknown): string | undefined => {
  if (typeof raw !== "object" || raw === null) return undefined
  const id = (raw as { id?: unknown }).id
  return typeof id === "string" && id.length <= 128 ? id : undefined
}

const decodeOptions = { onExcessProperty: "ignore", errors: "all" } as const

/**
 * Parse and decode one text frame. Never throws: anything that goes wrong while decoding
 * (or while describing what is wrong) is the frame's fault, answered `bad_request`.
 */
export const decodeFrame = (text: string): Either.Either<ClientFrame, { id?: string; error: BadRequest }> => {
  if (jsonTooDeep(text)) return Either.left({ error: new BadRequest({ message: tooDeepMessage }) })
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return Either.left({ error: new BadRequest({ message: "frame is not valid JSON" }) })
  }
  try {
    return decodeParsed(raw)
  } catch {
    return Either.left({ error: new BadRequest({ message: "frame could not be decoded" }) })
  }
}

const decodeParsed = (raw: unknown): Either.Either<ClientFrame, { id?: string; error: BadRequest }> => {
  const id = frameId(raw)
  const fail = (message: string) => Either.left({ ...(id !== undefined ? { id } : {}), error: new BadRequest({ message }) })
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail("frame must be a JSON object")
  const type = (raw as { type?: unknown }).type
  if (typeof type !== "string") return fail("frame has no type")
  const schema = byType.get(type)
  if (schema === undefined) return fail(`unknown frame type: ${type.slice(0, 32)}`)
  const decoded = Schema.decodeUnknownEither(schema, decodeOptions)(raw)
  if (Either.isLeft(decoded)) return fail(formatIssue(decoded.left))
  return Either.right(decoded.right as ClientFrame)
}

/**
 * A short, single-line description of what is wrong: each bad field once, by path. An
 * optional field yields two issues for one bad value (its type's, and "Expected undefined"
 * from the optional's union): the second says nothing useful and contradicts the first,
 * so a field's first issue other than that one is kept.
 */
export const formatIssue = (error: ParseResult.ParseError): string => {
  const byPath = new Map<string, string>()
  for (const i of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = i.path.map(String).join(".")
    const current = byPath.get(path)
    if (current === undefined || (isOptionalNoise(current) && !isOptionalNoise(i.message))) byPath.set(path, i.message)
  }
  return [...byPath]
    .slice(0, 5)
    .map(([path, message]) => (path.length > 0 ? `${path}: ${message}` : message))
    .join("; ")
    .slice(0, 300)
}

const isOptionalNoise = (message: string): boolean => message.startsWith("Expected undefined,")
