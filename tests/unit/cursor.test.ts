/** The room-list cursor: opaque to clients, so whatever they send back must be checked before it reaches SQL. */
import { describe, expect, it } from "vitest"
import { decodeRoomCursor, encodeRoomCursor } from "../../storage/cursor.ts"
import { bytesToBase64, toBase64Url, utf8 } from "../../src/util/base64.ts"

const raw = (v: unknown) => toBase64Url(bytesToBase64(utf8.encode(JSON.stringify(v))))
const id = "0190f3a0-1111-7222-8333-444455556666"

describe("room cursor", () => {
  it("round-trips what the store encodes", () => {
    const c = { pinned: true, lastActivityAt: "2026-11-28T07:00:00.000Z", id }
    expect(decodeRoomCursor(encodeRoomCursor(c))).toEqual(c)
  })

  it.each([
    ["a room id that is not a UUID", [0, "2026-11-28T07:00:00.000Z", "not-a-uuid"]],
    ["a room id with a NUL", [0, "2026-11-28T07:00:00.000Z", `${id}\u0000`]],
    ["an unparseable date", [1, "yesterday", id]],
    ["a pinned flag other than 0/1", [2, "2026-11-28T07:00:00.000Z", id]],
    ["the wrong shape", { pinned: 1 }],
    // Dates JavaScript accepts and PostgreSQL's timestamptz does not (it answered 503).
    ["a date in year -1", [0, "-000001-01-01T00:00:00.000Z", id]],
    ["a date in year +275760", [0, "+275760-09-13T00:00:00.000Z", id]],
    ["a date in year 0", [0, "0000-06-01T00:00:00.000Z", id]]
  ])("refuses %s", (_, value) => {
    expect(decodeRoomCursor(raw(value))).toBeUndefined()
  })

  it("refuses text that is not base64 JSON", () => {
    expect(decodeRoomCursor("%%%")).toBeUndefined()
  })

  it("normalises a date only JavaScript accepts into ISO 8601 for SQL", () => {
    expect(decodeRoomCursor(raw([0, "2026-11-28 07:00Z", id]))?.lastActivityAt).toBe("2026-11-28T07:00:00.000Z")
  })
})
