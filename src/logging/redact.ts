/**
 * Redaction for anything that may reach a log line: values under sensitive keys (tokens,
 * secrets, keys, passwords, message bodies), Redacted values, JWT-shaped strings anywhere,
 * and passwords inside URLs. Defence in depth: code should not log these in the first place.
 */
import { Redacted } from "effect"

export const REDACTED = "<redacted>"

// Substrings that mark a key as sensitive, plus exact names too short to match safely as
// substrings ("key" would hit "keyspace", "body" would hit "somebody").
const SENSITIVE_PART = /token|secret|passw|authorization|cookie|api[-_]?key|private[-_]?key|master[-_]?key|credential/i
const SENSITIVE_EXACT = /^(key|keys|body|pem|jwt|bearer)$/i

export const isSensitiveKey = (key: string): boolean => SENSITIVE_PART.test(key) || SENSITIVE_EXACT.test(key)

// A compact JWS: base64url header starting with '{"' (eyJ), payload, signature.
const JWT_RE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g
// scheme://user:password@host: keep the user, drop the password.
const URL_PASSWORD_RE = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi

/** Replaces JWT-shaped substrings and URL passwords in free text. */
export const scrubText = (s: string): string => s.replace(JWT_RE, REDACTED).replace(URL_PASSWORD_RE, `$1:${REDACTED}@`)

const QUERY_PARAM_RE = /([?&])([^=&#]*)=([^&#]*)/g

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** A URL safe to log: password and token-like query parameter values replaced. */
export const redactUrl = (url: string): string =>
  scrubText(url).replace(QUERY_PARAM_RE, (param, sep: string, name: string) =>
    isSensitiveKey(safeDecode(name)) ? `${sep}${name}=${REDACTED}` : param
  )

const MAX_DEPTH = 8

/** A copy of `value` fit for logging. Plain objects and arrays are copied; others kept. */
export const redact = (value: unknown): unknown => walk(value, 0, new WeakSet())

const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
  if (typeof value === "string") return scrubText(value)
  if (value === null || typeof value !== "object") return value
  if (Redacted.isRedacted(value)) return REDACTED
  if (depth >= MAX_DEPTH || seen.has(value)) return "[…]"
  seen.add(value)
  if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen))
  if (value instanceof Error) {
    return { name: value.name, message: scrubText(value.message) }
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value // class instances decide their own toJSON
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = isSensitiveKey(k) ? REDACTED : walk(v, depth + 1, seen)
  return out
}
