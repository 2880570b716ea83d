/**
 * The one place that maps error tags to wire codes, HTTP statuses and WebSocket close
 * codes. docs/errors.md has the same table in prose; tests/unit/errorMap.test.ts keeps
 * the two in step.
 */
import { create } from "@bufbuild/protobuf"
import { DurationSchema } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError } from "@connectrpc/connect"
import type { ChatError } from "../../core/errors.ts"
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.ts"

export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "too_large"
  | "rate_limited"
  | "conflict"
  | "unavailable"
  | "timeout"
  | "internal"

/** code: REST/WebSocket/NATS; status: HTTP; connect: Connect and gRPC. */
export const errorTable: Record<
  ChatError["_tag"],
  { readonly code: ErrorCode; readonly status: number; readonly connect: Code }
> = {
  BadRequest: { code: "bad_request", status: 400, connect: Code.InvalidArgument },
  Unauthorized: { code: "unauthorized", status: 401, connect: Code.Unauthenticated },
  Forbidden: { code: "forbidden", status: 403, connect: Code.PermissionDenied },
  NotFound: { code: "not_found", status: 404, connect: Code.NotFound },
  // A rule refused the write given the current state (e.g. the message was deleted).
  Conflict: { code: "conflict", status: 409, connect: Code.FailedPrecondition },
  // The input is over a configured limit: retrying the same input cannot succeed.
  TooLarge: { code: "too_large", status: 413, connect: Code.InvalidArgument },
  RateLimited: { code: "rate_limited", status: 429, connect: Code.ResourceExhausted },
  Internal: { code: "internal", status: 500, connect: Code.Internal },
  Unavailable: { code: "unavailable", status: 503, connect: Code.Unavailable },
  // Both say "not stored, retry": the room's owner moved (routers retry it themselves), or
  // the room's mailbox is full.
  NotOwner: { code: "unavailable", status: 503, connect: Code.Unavailable },
  MailboxFull: { code: "unavailable", status: 503, connect: Code.Unavailable },
  Timeout: { code: "timeout", status: 504, connect: Code.DeadlineExceeded }
}

export const codeOf = (e: ChatError): ErrorCode => errorTable[e._tag].code
export const statusOf = (e: ChatError): number => errorTable[e._tag].status

/** The body of a REST error and the fields of a WebSocket `error` frame. */
export const errorPayload = (e: ChatError) => ({
  code: codeOf(e),
  message: e.message,
  ...(e._tag === "RateLimited" ? { retryAfterMs: e.retryAfterMs } : {})
})

/**
 * A Connect/gRPC error. The wire code of the other surfaces rides along as the
 * `chat-error-code` metadata (too_large and bad_request share invalid_argument); a rate
 * limit carries google.rpc.RetryInfo and `retry-after-ms`.
 */
export const connectErrorOf = (e: ChatError): ConnectError => {
  const metadata = new Headers({ "chat-error-code": codeOf(e) })
  if (e._tag !== "RateLimited") return new ConnectError(e.message, errorTable[e._tag].connect, metadata)
  const ms = Math.max(0, Math.ceil(e.retryAfterMs))
  metadata.set("retry-after-ms", String(ms))
  return new ConnectError(e.message, Code.ResourceExhausted, metadata, [
    {
      desc: RetryInfoSchema,
      value: create(RetryInfoSchema, {
        retryDelay: create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 })
      })
    }
  ])
}

/** WebSocket close codes (RFC 6455) this server uses. */
export const CloseCode = {
  /** Node draining or shutting down: reconnect elsewhere and resume with `since`. */
  goingAway: 1001,
  /** Abuse: frame over the hard limit, flooding, a consumer too slow to keep up. */
  policy: 1008,
  internal: 1011
} as const
