/**
 * The one place that maps error tags to wire codes, HTTP statuses and WebSocket close
 * codes. docs/errors.md has the same table in prose; tests/unit/errorMap.test.ts keeps
 * the two in step.
 */
import type { ChatError } from "../../core/errors.ts"

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

export const errorTable: Record<ChatError["_tag"], { readonly code: ErrorCode; readonly status: number }> = {
  BadRequest: { code: "bad_request", status: 400 },
  Unauthorized: { code: "unauthorized", status: 401 },
  Forbidden: { code: "forbidden", status: 403 },
  NotFound: { code: "not_found", status: 404 },
  Conflict: { code: "conflict", status: 409 },
  TooLarge: { code: "too_large", status: 413 },
  RateLimited: { code: "rate_limited", status: 429 },
  Internal: { code: "internal", status: 500 },
  Unavailable: { code: "unavailable", status: 503 },
  Timeout: { code: "timeout", status: 504 }
}

export const codeOf = (e: ChatError): ErrorCode => errorTable[e._tag].code
export const statusOf = (e: ChatError): number => errorTable[e._tag].status

/** The body of a REST error and the fields of a WebSocket `error` frame. */
export const errorPayload = (e: ChatError) => ({
  code: codeOf(e),
  message: e.message,
  ...(e._tag === "RateLimited" ? { retryAfterMs: e.retryAfterMs } : {})
})

/** WebSocket close codes (RFC 6455) this server uses. */
export const CloseCode = {
  /** Node draining or shutting down: reconnect elsewhere and resume with `since`. */
  goingAway: 1001,
  /** Abuse: frame over the hard limit, flooding, a consumer too slow to keep up. */
  policy: 1008,
  internal: 1011
} as const
