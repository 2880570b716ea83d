/** Server-to-client frames, serialised in one place so every path emits the same shape. */
import type { ChatError } from "../../../core/errors.ts"
import type { Ack, ChatEvent } from "../../../core/model.ts"
import { errorPayload } from "../../protocol/errorMap.ts"

export const eventFrame = (e: ChatEvent): string =>
  JSON.stringify({ type: "event", room: e.room, seq: e.seq, ts: e.ts, kind: e.kind, actor: e.actor, data: e.data })

export const ackFrame = (id: string | undefined, ack: Ack): string => JSON.stringify({ type: "ack", id, ...ack })

export const errorFrame = (id: string | undefined, e: ChatError): string =>
  JSON.stringify({ type: "error", ...(id !== undefined ? { id } : {}), ...errorPayload(e) })

export const replyFrame = (type: string, id: string | undefined, fields: Record<string, unknown>): string =>
  JSON.stringify({ type, ...(id !== undefined ? { id } : {}), ...fields })
