/**
 * Rows to domain values. The drivers disagree on types (postgres.js gives int8 as a string,
 * PGlite as a number; both give timestamptz as a Date), so every column is normalised here.
 */
import type { ChatEvent, Device, EventKind, Member, Platform, Role, RoomId, UserId } from "../../core/model.ts"
import type { WrappedRoomKey } from "../ChatStore.ts"
import { type StoredMessage, toMessage } from "../../core/plan.ts"
import type { Row } from "./SqlClient.ts"

export const num = (v: unknown): number => Number(v)

/** ISO 8601 in UTC with milliseconds and `Z`, whatever the driver returned. */
export const iso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString()

const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v))
const optIso = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : iso(v))
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v))

/** A messages row; `seq` and `ts` columns may be renamed when joined (replay). */
export const storedMessage = (row: Row, seq = row.seq, ts = row.ts): StoredMessage => ({
  seq: num(seq),
  id: String(row.id),
  sender: row.sender as UserId,
  body: row.body === null || row.body === undefined ? null : String(row.body),
  ts: iso(ts),
  replyTo: optNum(row.reply_to),
  clientMsgId: optStr(row.client_msg_id),
  editedAt: optIso(row.edited_at),
  deleted: row.deleted === true
})

export const member = (row: Row): Member => ({ user: row.user_id as UserId, role: row.role as Role })

export const replayEvent = (room: RoomId, row: Row): ChatEvent => {
  const targetSeq = optNum(row.target_seq)
  const data =
    targetSeq === undefined
      ? row.data
      : (() => {
          const m = storedMessage(row, targetSeq, row.message_ts)
          return toMessage(room, m, m.body ?? "")
        })()
  return {
    room,
    seq: num(row.seq),
    ts: iso(row.ts),
    kind: row.kind as EventKind,
    actor: row.actor as UserId,
    data
  }
}

export const device = (row: Row): Device => ({
  user: row.user_id as UserId,
  token: String(row.token),
  platform: row.platform as Platform,
  createdAt: iso(row.created_at)
})

export const roomKey = (row: Row): WrappedRoomKey => ({
  room: String(row.room_id) as RoomId,
  keyId: String(row.key_id),
  masterKeyId: String(row.master_key_id),
  wrapped: String(row.wrapped),
  createdAt: iso(row.created_at)
})
