/** src/crypto/body.ts `parseBody`: base64 parts are read exactly as `atob` reads them. */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc, Option } from "effect"
import { parseBody } from "../../src/crypto/body.ts"

const atobBytes = (s: string): Uint8Array | undefined => {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0))
  } catch {
    return undefined
  }
}

const IV = "AAECAwQFBgcICQoL" // 12 bytes
const alphabet = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
const b64ish = fc.tuple(fc.array(alphabet, { minLength: 0, maxLength: 40 }), fc.constantFrom("", "=", "==")).map(([cs, pad]) => cs.join("") + pad)

describe("parseBody", () => {
  it("parseBody - accepts a sealed part exactly when atob does, with the same bytes", () => {
    fc.assert(
      fc.property(b64ish, (sealed) => {
        const parsed = parseBody(`v2.0123456789abcdef.${IV}.${sealed}`)
        const expected = atobBytes(sealed)
        if (expected === undefined || expected.length < 16) expect(Option.isNone(parsed)).toBe(true)
        else expect(Option.getOrThrow(parsed).sealed).toEqual(expected)
      }),
      { numRuns: 3_000 }
    )
  })

  it("parseBody - refuses an IV that is not 12 bytes, and padding that atob refuses", () => {
    const sealed = "A".repeat(24)
    expect(Option.isSome(parseBody(`v1.0123456789abcdef.${IV}.${sealed}`))).toBe(true)
    expect(Option.isNone(parseBody(`v1.0123456789abcdef.AAECAwQFBgcICQo.${sealed}`))).toBe(true)
    expect(Option.isNone(parseBody(`v1.0123456789abcdef.${IV}.${sealed}A=`))).toBe(true)
    expect(Option.isNone(parseBody(`v1.0123456789abcdef.${IV}.${sealed}A`))).toBe(true)
  })
})
