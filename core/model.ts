/**
 * The domain vocabulary shared by the gateway, the room actors and every store.
 * Wire shapes follow ../shared/spec/protocol.md; docs/protocol.md restates them.
 */
import { Schema } from "effect"

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Decoding lowercases: a UUID names the same room in either case, and actors, bus
 * subjects and subscriptions are keyed by the one canonical spelling.
 */
export const RoomId = Schema.compose(
  Schema.Lowercase,
  Schema.String.pipe(
    Schema.filter((s) => UUID_RE.test(s), { message: () => "room must be a UUID" }),
    Schema.brand("RoomId")
  )
)
export type RoomId = typeof RoomId.Type

/**
 * PostgreSQL `text` and `jsonb` cannot hold U+0000: a statement carrying one fails in the
 * database, which inside a room's batch commit crashes the room actor and answers every
 * command of the batch `unavailable` (and a retry does the same). So every client-supplied
 * string stored unencrypted refuses NUL here, at the edge, and the client gets `bad_request`.
 * Message bodies need no such rule: they are stored as ciphertext.
 */
export const noNulChars =
  <S extends Schema.Schema.Any>(annotations?: Schema.Annotations.Filter<Schema.Schema.Type<S>>) =>
  <A extends string>(self: S & Schema.Schema<A, Schema.Schema.Encoded<S>, Schema.Schema.Context<S>>): Schema.filter<S> =>
    self.pipe(
      Schema.filter((a) => !a.includes("\u0000"), {
        title: "noNulChars",
        description: "a string without NUL (U+0000) characters",
        // Never echo the value: it is the bad input, and a NUL would end up in logs.
        message: () => "must not contain NUL (U+0000) characters",
        ...annotations
      })
    )

/** A lone surrogate: `u` mode reads a valid pair as one astral code point, never as Cs. */
const LONE_SURROGATE = /\p{Cs}/u

/** False for ill-formed UTF-16 (an unpaired surrogate). `String.prototype.isWellFormed` is ES2024, not in every runtime's typings. */
export const isWellFormed = (s: string): boolean => !LONE_SURROGATE.test(s)

export const WELL_FORMED_MESSAGE = "must be well-formed Unicode (no unpaired surrogate)"

/**
 * A string with an unpaired surrogate (say "k\ud800") has no UTF-8 form: PostgreSQL, PGlite,
 * ScyllaDB and the body encryption all store it as U+FFFD while the node keeps comparing
 * the original, so two different strings would name one stored value (an idempotency key,
 * a member). Every client string is refused at the edge instead (`bad_request`).
 */
export const wellFormed =
  <S extends Schema.Schema.Any>(annotations?: Schema.Annotations.Filter<Schema.Schema.Type<S>>) =>
  <A extends string>(self: S & Schema.Schema<A, Schema.Schema.Encoded<S>, Schema.Schema.Context<S>>): Schema.filter<S> =>
    self.pipe(
      Schema.filter((a) => isWellFormed(a), {
        title: "wellFormed",
        description: "a well-formed UTF-16 string (no unpaired surrogates)",
        // Never echo the value.
        message: () => WELL_FORMED_MESSAGE,
        ...annotations
      })
    )

/** A user is the `sub` of a verified JWT: an opaque string of 1..128 characters, without NUL or unpaired surrogates. */
export const UserId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(128),
  noNulChars(),
  wellFormed(),
  Schema.brand("UserId")
)
export type UserId = typeof UserId.Type

/**
 * The reserved sender of messages a service sends "as the system" (server API,
 * `asSystem`). It is never a user: a token whose `sub` is this id is refused, it cannot be
 * made a member of any room, and only a Send op flagged `system` may use it (core/plan.ts).
 */
export const SYSTEM_SENDER = "system" as UserId

/** A room's position in its total order; 0 means "nothing yet". */
export const Seq = Schema.Int.pipe(Schema.nonNegative())
export type Seq = number

export const ClientMsgId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64), noNulChars(), wellFormed())

export const Role = Schema.Literal("owner", "admin", "member")
export type Role = typeof Role.Type
export const RoomKind = Schema.Literal("direct", "group")
export type RoomKind = typeof RoomKind.Type

export const isAdminRole = (role: Role | undefined): boolean => role === "owner" || role === "admin"

export interface Member {
  readonly user: UserId
  readonly role: Role
}

/** The Message object of the protocol. `body` is plaintext above the encryption layer. */
export interface Message {
  readonly seq: number
  readonly id: string
  readonly room: RoomId
  readonly sender: UserId
  readonly body: string
  readonly ts: string
  readonly replyTo?: number
  readonly clientMsgId?: string
  readonly editedAt?: string
  readonly deleted?: boolean
  readonly reactions?: Readonly<Record<string, ReadonlyArray<UserId>>>
}

export interface Room {
  readonly id: RoomId
  readonly kind: RoomKind
  readonly name?: string
  readonly members: ReadonlyArray<Member>
  readonly createdAt: string
  readonly lastSeq: number
}

export interface RoomSummary {
  readonly id: RoomId
  readonly kind: RoomKind
  readonly name?: string
  readonly pinned: boolean
  readonly unread: number
  readonly lastActivityAt: string
  readonly lastMessage?: {
    readonly seq: number
    readonly sender: UserId
    readonly body: string
    readonly ts: string
    /** Store-internal: the message id its body is bound to (src/crypto/body.ts); not sent to clients. */
    readonly id?: string
  }
}

export const EventKind = Schema.Literal(
  "message.created",
  "message.edited",
  "message.deleted",
  "reaction.added",
  "reaction.removed",
  "member.joined",
  "member.left",
  "room.updated"
)
export type EventKind = typeof EventKind.Type

/**
 * A committed, sequenced change of a room. `data` is kind-specific:
 * - message.created / message.edited / message.deleted: the Message (a deleted one has
 *   `deleted: true` and an empty body);
 * - reaction.added / reaction.removed: `{ messageSeq, emoji, user }`;
 * - member.joined / member.left: `{ user, role }`;
 * - room.updated: `{ name }`.
 */
export interface ChatEvent {
  readonly room: RoomId
  readonly seq: number
  readonly ts: string
  readonly kind: EventKind
  readonly actor: UserId
  readonly data: unknown
}

/** What a successful write returns to its caller once it is durable. */
export interface Ack {
  readonly room: RoomId
  readonly seq: number
  readonly messageId?: string
  readonly ts: string
}

/**
 * A read's ack: `seq` is the read position now stored; `marked` counts the messages this
 * read moved over that others sent and that are not deleted (0 when it did not move).
 */
export interface ReadAck extends Ack {
  readonly marked: number
}

export const Platform = Schema.Literal("fcm", "apns", "webpush")
export type Platform = typeof Platform.Type

export interface Device {
  readonly user: UserId
  readonly token: string
  readonly platform: Platform
  readonly createdAt: string
}
