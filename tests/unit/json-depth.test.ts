/** The nesting bound checked on frames before they are parsed (src/protocol/jsonDepth.ts). */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { jsonTooDeep } from "../../src/protocol/jsonDepth.ts"

/** Arrays and objects open at once in a parsed value: the reference the text scan must match. */
const depthOf = (v: unknown): number => {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf))
  if (typeof v === "object" && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depthOf))
  return 0
}

const nested = (n: number, leaf: unknown): unknown => (n === 0 ? leaf : n % 2 === 0 ? [nested(n - 1, leaf)] : { k: nested(n - 1, leaf) })

describe("jsonTooDeep", () => {
  it("jsonTooDeep - agrees with the depth of the parsed value, brackets inside strings included", () => {
    // Strings full of brackets and escapes: a scan that counted them, or lost track of a
    // string's end, would disagree with the parsed depth.
    const tricky = fc.stringMatching(/^[a-z{}[\]"\\]{0,12}$/)
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: "small" }, tricky, fc.integer(), fc.array(tie("node"), { maxLength: 3 }), fc.dictionary(tricky, tie("node"), { maxKeys: 3 }))
    })).node
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 6 }), (v, max) => {
        const text = JSON.stringify(v)
        expect(jsonTooDeep(text, max)).toBe(depthOf(v) > max)
      }),
      { numRuns: 2000 }
    )
  })

  it("jsonTooDeep - refuses a deep frame and passes a flat one, whatever its strings hold", () => {
    const flat = JSON.stringify({ type: "send", room: "r", clientMsgId: "{[{[", body: "}]".repeat(50) + "{".repeat(50) })
    expect(jsonTooDeep(flat)).toBe(false)
    expect(jsonTooDeep(JSON.stringify(nested(32, "x")))).toBe(false)
    expect(jsonTooDeep(JSON.stringify(nested(33, "x")))).toBe(true)
    expect(jsonTooDeep(JSON.stringify({ type: "send", body: "x", extra: nested(40, 1) }))).toBe(true)
    // A depth of one passes a bound of one; a second object inside does not.
    expect(jsonTooDeep('{"a":1}', 1)).toBe(false)
    expect(jsonTooDeep('{"a":{}}', 1)).toBe(true)
    expect(jsonTooDeep('{"a":"{"}', 0)).toBe(true)
  })
})
