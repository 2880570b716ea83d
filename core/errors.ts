/**
 * Errors. Those that cross a wire (WebSocket, REST, NATS) are Schema.TaggedError so they
 * can be encoded as-is; those that stay in-process are Data.TaggedError. The single
 * mapping to HTTP statuses, WebSocket codes and close codes lives in src/protocol/errorMap.ts.
 */
import { Data, Schema } from "effect"

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  message: Schema.String
}) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  message: Schema.String
}) {}

/** Also what a non-member gets for an existing room: existence is never revealed. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  message: Schema.String
}) {}

export class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", {
  message: Schema.String
}) {}

export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  message: Schema.String,
  retryAfterMs: Schema.Number
}) {}

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  message: Schema.String
}) {}

/** A dependency is down or a room is restarting; a retry with the same clientMsgId is safe. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String
}) {}

/**
 * Clustered mode: the command reached a node that does not own the room (any more); nothing
 * was stored. Routers retry it on the current owner; should it reach a client, it reads as
 * `unavailable` (src/protocol/errorMap.ts).
 */
export class NotOwner extends Schema.TaggedError<NotOwner>()("NotOwner", {
  message: Schema.String,
  room: Schema.String
}) {}

/**
 * A room's mailbox is full: the command is refused at once rather than queued without bound;
 * nothing was stored. Reads as `unavailable` on the wire (src/protocol/errorMap.ts).
 */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  message: Schema.String,
  room: Schema.String
}) {}

/**
 * The outcome is unknown: the command was taken for a commit that did not answer in time, so it
 * may or may not be stored. A retry with the same clientMsgId returns the first ack if it was.
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  message: Schema.String
}) {}

export const notOwner = (room: string) => new NotOwner({ message: `this node does not own room ${room}; retry`, room })

export class Internal extends Schema.TaggedError<Internal>()("Internal", {
  message: Schema.String
}) {}

/** Every error a client can be shown. */
export type ChatError =
  | BadRequest
  | Unauthorized
  | Forbidden
  | NotFound
  | TooLarge
  | RateLimited
  | Conflict
  | Unavailable
  | NotOwner
  | MailboxFull
  | Timeout
  | Internal

export const ChatErrorSchema = Schema.Union(
  BadRequest,
  Unauthorized,
  Forbidden,
  NotFound,
  TooLarge,
  RateLimited,
  Conflict,
  Unavailable,
  NotOwner,
  MailboxFull,
  Timeout,
  Internal
)

/** A store call failed (connection lost, query error). `operation` names the call. */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message() {
    return `store operation ${this.operation} failed`
  }
}

/** A commit carried an older fencing epoch than the room's head: this writer lost ownership. */
export class Fenced extends Data.TaggedError("Fenced")<{
  readonly room: string
  readonly epoch: number
  readonly currentEpoch: number
}> {}


