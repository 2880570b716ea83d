/** UUID v7 layout and the pooled random bytes behind it and behind IVs. */
import { describe, expect, it } from "vitest"
import { publicRandomBytes } from "../../src/util/randomPool.ts"
import { uuidv7 } from "../../src/util/uuid.ts"

describe("uuidv7", () => {
  it("has the RFC 9562 layout: version 7, variant 10, the time in the first 48 bits", () => {
    const at = Date.UTC(2026, 10, 28, 8, 0, 0, 123)
    const id = uuidv7(at)
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(at)
  })

  it("sorts by time and never repeats, across pool refills", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuidv7(1_700_000_000_000 + i))
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
  })

  it("fills its 74 random bits from the pool: ids of one millisecond differ, and every hex digit shows up in every random position", () => {
    const at = 1_700_000_000_000
    const ids = Array.from({ length: 4000 }, () => uuidv7(at))
    expect(new Set(ids).size).toBe(ids.length)
    const prefix = ids[0].slice(0, 13)
    for (const id of ids) expect(id.slice(0, 13)).toBe(prefix)
    // Positions of fully random hex digits: the rest of the group the version digit opens, the
    // rest of the group the variant digit opens, and the last group.
    const free = [15, 16, 17, 20, 21, 22, ...Array.from({ length: 12 }, (_, i) => 24 + i)]
    for (const p of free) expect(new Set(ids.map((id) => id[p])).size).toBe(16)
    expect(new Set(ids.map((id) => id[19]))).toEqual(new Set(["8", "9", "a", "b"]))
  })
})

describe("publicRandomBytes", () => {
  it("hands out each pooled byte once: consecutive draws differ, also across a refill", () => {
    const draws = Array.from({ length: 1000 }, () => Buffer.from(publicRandomBytes(12)).toString("hex"))
    expect(new Set(draws).size).toBe(draws.length)
    for (const d of draws) expect(d).toHaveLength(24)
  })

  it("returns arrays the caller owns (not views of the pool)", () => {
    const a = publicRandomBytes(16)
    const copy = Uint8Array.from(a)
    for (let i = 0; i < 600; i++) publicRandomBytes(16) // spends and refills the pool
    expect(a).toEqual(copy)
    expect(a.buffer.byteLength).toBe(16)
  })

  it("draws large requests straight from the CSPRNG", () => {
    expect(publicRandomBytes(1000)).toHaveLength(1000)
  })
})
