/**
 * The `send` frame, decoded by hand: the one frame a busy socket sends over and over, where a
 * Schema walk per message cost more than the rest of the gateway's work on it. The Schema
 * (`Send` in ./frames.ts) stays the definition: this answers a frame only when it is a `send`
 * that the Schema accepts, decoded to the same value; anything else (another type, any bad
 * field) answers undefined and takes the Schema's path, which words the error. A unit test
 * (tests/unit/fast-send.test.ts) runs both over valid and invalid frames and requires them to agree.
 */
import { isWellFormed, UUID_PATTERN } from "../../core/model.ts"
import type { Types } from "effect"
import type { ClientFrame } from "./frames.ts"
import { jsonTooDeep } from "./jsonDepth.ts"

export type SendFrame = Extract<ClientFrame, { type: "send" }>

const own = Object.prototype.hasOwnProperty

/** The frame, when `text` is a valid `send` frame; undefined for anything else. Never throws. */
export const decodeSendFast = (text: string): SendFrame | undefined => {
  // Cheap refusal before parsing: not a send frame at all (the Schema path handles the rest).
  if (!text.includes('"send"') || jsonTooDeep(text)) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  return decodeSendValue(raw)
}

/** The same check on a parsed value (exported for the agreement test). */
export const decodeSendValue = (raw: unknown): SendFrame | undefined => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined
  const r = raw as Record<string, unknown>
  if (!own.call(r, "type") || r.type !== "send") return undefined
  let id: string | undefined
  if (own.call(r, "id") && r.id !== undefined) {
    if (typeof r.id !== "string" || r.id.length > 128) return undefined
    id = r.id
  }
  if (!own.call(r, "room") || typeof r.room !== "string") return undefined
  const room = r.room.toLowerCase()
  if (!UUID_PATTERN.test(room)) return undefined
  const cmid = own.call(r, "clientMsgId") ? r.clientMsgId : undefined
  if (typeof cmid !== "string" || cmid.length < 1 || cmid.length > 64 || cmid.includes("\u0000") || !isWellFormed(cmid)) {
    return undefined
  }
  const body = own.call(r, "body") ? r.body : undefined
  if (typeof body !== "string" || !isWellFormed(body)) return undefined
  let replyTo: number | undefined
  if (own.call(r, "replyTo") && r.replyTo !== undefined) {
    if (typeof r.replyTo !== "number" || !Number.isSafeInteger(r.replyTo) || r.replyTo <= 0) return undefined
    replyTo = r.replyTo
  }
  // Optional fields added only when present (as the Schema decodes them), without spreading
  // a temporary object per frame.
  const frame: Types.Mutable<SendFrame> = { type: "send", room: room as SendFrame["room"], clientMsgId: cmid, body }
  if (id !== undefined) frame.id = id
  if (replyTo !== undefined) frame.replyTo = replyTo
  return frame
}
