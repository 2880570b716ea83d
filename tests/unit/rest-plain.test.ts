/** The history page's plain query reader agrees with its Schema wherever it answers. */
import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { HistoryQuery, plainHistoryQuery } from "../../src/protocol/rest.ts"

const decode = Schema.decodeUnknownEither(HistoryQuery, { onExcessProperty: "ignore", errors: "all" })

const values = [
  undefined,
  "1",
  "7",
  "50",
  "200",
  "201",
  "9007199254740991",
  "9007199254740992",
  "12345678901234567",
  "0",
  "01",
  "-1",
  "+5",
  "1e3",
  "5.0",
  " 5",
  "5 ",
  "0x10",
  "",
  "abc",
  "١٢"
]

describe("rest - plain history query", () => {
  it("answers only what HistoryQuery decodes, with the same values", () => {
    let answered = 0
    for (const before of values) {
      for (const limit of values) {
        const query: Record<string, string> = { other: "ignored" }
        if (before !== undefined) query.before = before
        if (limit !== undefined) query.limit = limit
        const plain = plainHistoryQuery(query)
        if (plain === undefined) continue
        answered++
        const decoded = decode(query)
        expect(Either.isRight(decoded), JSON.stringify(query)).toBe(true)
        const v = Either.getOrThrow(decoded)
        expect({ before: plain.before, limit: plain.limit }, JSON.stringify(query)).toEqual({ before: v.before, limit: v.limit })
      }
    }
    // The plain forms are all read here: before absent or 1, 7, 50, 200, 201, 2^53-1 (7);
    // limit absent or 1, 7, 50, 200 (5).
    expect(answered).toBe(7 * 5)
  })

  it("leaves every refused value to the schema, whose error names the field", () => {
    for (const [query, field] of [
      [{ before: "0" }, "before"],
      [{ limit: "201" }, "limit"],
      [{ limit: "abc" }, "limit"]
    ] as const) {
      expect(plainHistoryQuery(query)).toBeUndefined()
      const decoded = decode(query)
      expect(Either.isLeft(decoded)).toBe(true)
      expect(String(Either.isLeft(decoded) ? decoded.left : "")).toContain(field)
    }
  })
})
