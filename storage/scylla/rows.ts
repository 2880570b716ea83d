/**
 * CQL rows to domain values. cassandra-driver gives bigint as a Long, uuid as a Uuid object
 * and timestamp as a Date; every column is normalised here.
 */
import type { Device, Member, Platform, Role, RoomId, UserId } from "../../core/model.ts"
import type { WrappedRoomKey } from "../ChatStore.ts"
import type { StoredMessage } from "../../core/plan.ts"
import type { Row } from "./CqlClient.ts"

const absent = (v: unknown): v is null | undefined => v === null || v === undefined

/** Long (or number) to number: seqs and micro-timestamps stay below 2^53. */
export const num = (v: unknown): number => (absent(v) ? 0 : typeof v === "number" ? v : Number(String(v)))
export const optNum = (v: unknown): number | undefined => (absent(v) ? undefined : num(v))

/** ISO 8601 in UTC with milliseconds, the form every store answers. */
export const iso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString()
export const optIso = (v: unknown): string | undefined => (absent(v) ? undefined : iso(v))

export const str = (v: unknown): string => (absent(v) ? "" : String(v))
export const optStr = (v: unknown): string | undefined => (absent(v) ? undefined : String(v))

/** A timestamp parameter: the driver wants a Date. */
export const date = (isoString: string): Date => new Date(isoString)

export const storedMessage = (row: Row): StoredMessage => ({
  seq: num(row.seq),
  id: str(row.id),
  sender: str(row.sender) as UserId,
  body: absent(row.body) ? null : String(row.body),
  ts: iso(row.ts),
  replyTo: optNum(row.reply_to),
  clientMsgId: optStr(row.client_msg_id),
  editedAt: optIso(row.edited_at),
  deleted: row.deleted === true
})

export const member = (row: Row): Member & { readonly joinedAt: string } => ({
  user: str(row.user_id) as UserId,
  role: str(row.role) as Role,
  joinedAt: iso(row.joined_at)
})

export const device = (row: Row): Device => ({
  user: str(row.user_id) as UserId,
  token: str(row.device_token),
  platform: str(row.platform) as Platform,
  createdAt: iso(row.created_at)
})

export const roomKey = (row: Row): WrappedRoomKey => ({
  room: str(row.room_id) as RoomId,
  keyId: str(row.key_id),
  masterKeyId: str(row.master_key_id),
  wrapped: str(row.wrapped),
  createdAt: iso(row.created_at)
})
