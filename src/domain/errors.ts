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

/**
 * A dependency is down or a room is restarting; a retry with the same clientMsgId is safe.
 * `notOwner` marks a command that reached a node which does not own the room (any more):
 * routers retry those on the current owner instead of answering the client.
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String,
  notOwner: Schema.optional(Schema.Boolean)
}) {}

/**
 * The outcome is unknown: the command was taken for a commit that did not answer in time, so it
 * may or may not be stored. A retry with the same clientMsgId returns the first ack if it was.
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  message: Schema.String
}) {}

export const notOwner = (room: string) =>
  new Unavailable({ message: `this node does not own room ${room}; retry`, notOwner: true })

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

/** A room actor's mailbox is full: fail fast rather than queue without bound. */
export class MailboxFull extends Data.TaggedError("MailboxFull")<{ readonly room: string }> {}
