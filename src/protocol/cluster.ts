/**
 * What nodes send each other over NATS, each payload defined once here as a Schema and
 * decoded on arrival (a malformed payload is refused with an error, never cast):
 * - a room's signals subject: typing, presence and read frames plus the socket they came
 *   from (`origin`, so a node does not echo a frame back to that socket);
 * - a shard's command subject: a write or snapshot command for the room's owner, and the
 *   owner's reply (a result, a snapshot, or an error rebuilt into the same tagged error).
 * Committed events travel as the public event frame (./serverFrames.ts, EventFrame).
 * The public send ingress (`chat.room.<room>.send`) has its request Schema beside its
 * handler in src/cluster/Ingress.ts.
 */
import { Schema } from "effect"
import { ChatErrorSchema } from "../../core/errors.ts"
import { EventKind, Role, RoomId, RoomKind, UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import { PresenceFrame, ReadFrame, TypingFrame } from "./serverFrames.ts"

const optional = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { exact: true })
const Seq = Schema.Int.pipe(Schema.nonNegative())
const Origin = Schema.Struct({ origin: optional(Schema.String) })

export const TypingSignal = Schema.extend(TypingFrame, Origin)
export const ReadSignal = Schema.extend(ReadFrame, Origin)
export const Signal = Schema.Union(TypingSignal, PresenceFrame, ReadSignal)
export type Signal = typeof Signal.Type

const Actor = { actor: UserId }

export const WriteOpSchema = Schema.Union(
  Schema.TaggedStruct("Send", {
    ...Actor,
    messageId: Schema.String,
    clientMsgId: Schema.String,
    body: Schema.String,
    replyTo: optional(Schema.Int),
    system: optional(Schema.Boolean)
  }),
  Schema.TaggedStruct("Edit", { ...Actor, seq: Seq, body: Schema.String }),
  Schema.TaggedStruct("Delete", { ...Actor, seq: Seq }),
  Schema.TaggedStruct("React", { ...Actor, seq: Seq, emoji: Schema.String, remove: Schema.Boolean }),
  Schema.TaggedStruct("AddMembers", { ...Actor, users: Schema.Array(UserId) }),
  Schema.TaggedStruct("RemoveMember", { ...Actor, user: UserId }),
  Schema.TaggedStruct("Rename", { ...Actor, name: Schema.String })
)

export const Command = Schema.Union(
  Schema.Struct({ k: Schema.Literal("w"), room: RoomId, op: WriteOpSchema }),
  Schema.Struct({ k: Schema.Literal("s"), room: RoomId })
)
export type Command = typeof Command.Type

const AckSchema = Schema.Struct({ room: RoomId, seq: Seq, messageId: optional(Schema.String), ts: Schema.String })

const EventSchema = Schema.Struct({
  room: RoomId,
  seq: Seq,
  ts: Schema.String,
  kind: EventKind,
  actor: UserId,
  data: Schema.Unknown
})

export const OpResultSchema = Schema.Union(
  Schema.TaggedStruct("Committed", { ack: AckSchema, events: Schema.Array(EventSchema) }),
  Schema.TaggedStruct("Duplicate", { ack: AckSchema }),
  Schema.TaggedStruct("Rejected", { error: ChatErrorSchema })
)

export const SnapshotSchema = Schema.Struct({
  room: RoomId,
  kind: RoomKind,
  name: optional(Schema.String),
  createdAt: Schema.String,
  lastSeq: Seq,
  members: Schema.ReadonlyMap({ key: UserId, value: Role })
})

export const Reply = Schema.Union(
  Schema.Struct({ ok: Schema.Literal(true), r: OpResultSchema }),
  Schema.Struct({ ok: Schema.Literal(true), s: SnapshotSchema }),
  Schema.Struct({ ok: Schema.Literal(false), e: ChatErrorSchema })
)
export type Reply = typeof Reply.Type

// The Schemas describe exactly the room's types: a change to either side fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const check = <T extends true>(_: T) => undefined
check<Same<typeof WriteOpSchema.Type, WriteOp>>(true)
check<Same<typeof OpResultSchema.Type, OpResult>>(true)
check<Same<typeof SnapshotSchema.Type, RoomSnapshot>>(true)

/** The signals subject's payloads (presence is the public presence frame as it is). */
export const typingSignal = (room: RoomId, user: UserId, origin: string | undefined): string =>
  JSON.stringify({ type: "typing", room, user, origin })

export const readSignal = (room: RoomId, user: UserId, seq: number, origin: string | undefined): string =>
  JSON.stringify({ type: "read", room, user, seq, origin })

/**
 * A push intent on `chat.push.<user>` (JetStream stream CHAT_PUSH): a message for a member
 * with no live socket. It names the message and carries no body.
 */
export const PushIntent = Schema.Struct({
  user: Schema.String,
  room: Schema.String,
  seq: Seq,
  messageId: Schema.String,
  sender: Schema.String,
  ts: Schema.String,
  kind: Schema.String
})
export type PushIntent = typeof PushIntent.Type

export const pushIntentPayload = (i: PushIntent): string =>
  JSON.stringify({ user: i.user, room: i.room, seq: i.seq, messageId: i.messageId, sender: i.sender, ts: i.ts, kind: i.kind })
