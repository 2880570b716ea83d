/**
 * What the push worker hands a provider, and what a provider answers. Providers are plain
 * Promise code at their edge (HTTP to Apple, Google, a browser's push service); they never
 * reject: a network error is an outcome (Retry) like a 503.
 */
import type { Platform, RoomId, UserId } from "../domain/model.ts"

/** One notification for one device: the newest message of a burst, and how many it stands for. */
export interface Notification {
  readonly room: RoomId
  readonly sender: UserId
  /** The newest message's seq: the app fetches from here over its authenticated connection. */
  readonly seq: number
  /** Messages this notification stands for (a coalesced burst). */
  readonly count: number
  /** Only with CHAT_PUSH_PREVIEW_CHARS > 0: the newest message's text, truncated. */
  readonly preview?: string
}

export type SendOutcome =
  | { readonly _tag: "Sent" }
  /** The provider says the token will never work again: remove it. */
  | { readonly _tag: "Dead"; readonly reason: string }
  /** Try again later (429, 5xx, network); `afterMs` from Retry-After when the provider gave one. */
  | { readonly _tag: "Retry"; readonly reason: string; readonly afterMs?: number }
  /** A permanent failure for this notification (bad payload, bad credentials): not retried. */
  | { readonly _tag: "Failed"; readonly reason: string }

export interface PushProvider {
  readonly platform: Platform
  readonly send: (token: string, notification: Notification) => Promise<SendOutcome>
}

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export const retryAfterMs = (value: string | null | undefined, now = Date.now()): number | undefined => {
  if (value === null || value === undefined || value.trim() === "") return undefined
  const seconds = Number(value.trim())
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** The outcome for a status that needs no provider-specific reading. */
export const byStatus = (status: number, retryAfter: string | null | undefined, reason: string): SendOutcome => {
  if (status >= 200 && status < 300) return { _tag: "Sent" }
  if (status === 429 || status >= 500) {
    const afterMs = retryAfterMs(retryAfter)
    return afterMs === undefined ? { _tag: "Retry", reason } : { _tag: "Retry", reason, afterMs }
  }
  return { _tag: "Failed", reason }
}

/** What a notification says to the user, shared by the providers that show text themselves. */
export const alertText = (n: Notification): { readonly title: string; readonly body: string } => ({
  title: n.sender,
  body: n.preview ?? (n.count === 1 ? "New message" : `${n.count} new messages`)
})

/** The data every provider carries: room, sender, seq, count (+ preview when opted in). */
export const dataOf = (n: Notification): Record<string, string> => ({
  type: "message",
  room: n.room,
  sender: n.sender,
  seq: String(n.seq),
  count: String(n.count),
  ...(n.preview !== undefined ? { preview: n.preview } : {})
})

/**
 * The collapse key of a room: a burst in one room replaces the previous notification on the
 * device. The room id's 32 hex digits fit every provider's limit (Web Push Topic: at most 32
 * URL-safe base64 characters; apns-collapse-id: 64 bytes).
 */
export const collapseKeyOf = (room: RoomId): string => room.replace(/-/g, "").toLowerCase().slice(0, 32)
