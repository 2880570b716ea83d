/**
 * Keyset cursor of the room list: the sort key of the last row of a page
 * (pinned, last activity, room id), opaque to clients as base64url JSON.
 */
export interface RoomCursor {
  readonly pinned: boolean
  readonly lastActivityAt: string
  readonly id: string
}

import { base64ToBytes, bytesToBase64, fromBase64Url, toBase64Url, utf8, utf8Decode } from "../src/util/base64.ts"

export const encodeRoomCursor = (c: RoomCursor): string =>
  toBase64Url(bytesToBase64(utf8.encode(JSON.stringify([c.pinned ? 1 : 0, c.lastActivityAt, c.id]))))

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** undefined for a malformed cursor; callers turn that into bad_request. */
export const decodeRoomCursor = (s: string): RoomCursor | undefined => {
  try {
    const v = JSON.parse(utf8Decode.decode(base64ToBytes(fromBase64Url(s))))
    if (!Array.isArray(v) || v.length !== 3) return undefined
    const [p, a, id] = v
    if ((p !== 0 && p !== 1) || typeof a !== "string" || typeof id !== "string") return undefined
    // Both go into SQL: a non-UUID id or a date only JavaScript can parse would make the
    // database refuse the query (an outage to the caller) instead of a bad_request.
    if (!UUID.test(id)) return undefined
    const at = new Date(a)
    if (Number.isNaN(at.getTime())) return undefined
    // JavaScript dates span years -271821..275760; toISOString writes those outside
    // 0000..9999 with a sign and six digits ("-000001-...", "+275760-..."), which
    // PostgreSQL's timestamptz refuses. No activity time of ours falls outside 1..9999.
    const year = at.getUTCFullYear()
    if (year < 1 || year > 9999) return undefined
    return { pinned: p === 1, lastActivityAt: at.toISOString(), id }
  } catch {
    return undefined
  }
}
