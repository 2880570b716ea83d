/**
 * storage/sql/arrayLiteral.ts: the one-statement commit's array parameters. A literal must
 * hold exactly the elements appended, and an element that could split, end or nullify an
 * element is refused instead of written. (The PostgreSQL and PGlite contract tests run the
 * literals through both databases.)
 */
import { describe, expect, it } from "@effect/vitest"
// @ts-expect-error postgres.js has no type declarations for its internal module (the reference serializer).
import { arraySerializer } from "../../node_modules/postgres/src/types.js"
import { arrayLiteral, withInt, withPlain, withQuoted } from "../../storage/sql/arrayLiteral.ts"

describe("array literals", () => {
  it("builds the literal of the elements appended, in order, with NULL for null", () => {
    expect(arrayLiteral("")).toBe("{}")
    let ints = ""
    for (const n of [3, null, -7, 0, Number.MAX_SAFE_INTEGER]) ints = withInt(ints, n)
    expect(arrayLiteral(ints)).toBe(`{3,NULL,-7,0,${Number.MAX_SAFE_INTEGER}}`)
    let plain = ""
    for (const s of ["0190a3c4-7e21-7abc-8def-0123456789AB", "2026-12-07T04:36:00.000Z", "+010000-01-01T00:00:00.000Z"]) {
      plain = withPlain(plain, s)
    }
    expect(arrayLiteral(plain)).toBe("{0190a3c4-7e21-7abc-8def-0123456789AB,2026-12-07T04:36:00.000Z,+010000-01-01T00:00:00.000Z}")
  })

  it("refuses an element that is not plain: a delimiter, a quote, a brace, a space, an empty or NULL string", () => {
    for (const bad of ["a,b", 'a"b', "a\\b", "{a}", "a b", "", "NULL", "null", "a\u0000"]) {
      expect(() => withPlain("x", bad), JSON.stringify(bad)).toThrow(TypeError)
    }
  })

  it("refuses a number that is not a safe integer", () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => withInt("", bad), String(bad)).toThrow(TypeError)
    }
  })

  it("quotes any string as the driver does (postgres.js's own array serializer), escaping backslash and quote, NULL for null", () => {
    const strings: Array<string | null> = [
      "plain",
      "",
      "NULL",
      null,
      'say "hi"',
      "back\\slash\\",
      '\\"',
      "a,b {c} d",
      "héllo \u{1F44B}",
      "v2.k1.aXY=.c2VhbGVk/+=="
    ]
    let list = ""
    for (const s of strings) list = withQuoted(list, s)
    const options = { transform: { undefined: undefined } }
    // The driver writes null in lower case; PostgreSQL reads an unquoted NULL in any case.
    const driver = arraySerializer(strings, undefined, options, 1009).replace(/(?<=[{,])null(?=[,}])/g, "NULL")
    expect(arrayLiteral(list)).toBe(driver)
    expect(arrayLiteral(withQuoted("", ""))).toBe('{""}')
  })
})

