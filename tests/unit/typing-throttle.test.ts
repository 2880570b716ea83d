/** The typing relay throttle, on an injected clock (milliseconds passed in), never sleeping. */
import { describe, expect, it } from "vitest"
import { makeTypingThrottle } from "../../src/chat/TypingThrottle.ts"

describe("typing throttle", () => {
  it("typing - a flood is relayed once per user per room per interval, and a typing after the interval passes", () => {
    const throttle = makeTypingThrottle(1000)
    const relayed = Array.from({ length: 5000 }, (_, i) => throttle.admit("alice", "r1", i % 1000)).filter(Boolean)
    expect(relayed.length).toBe(1)
    expect(throttle.admit("alice", "r1", 999)).toBe(false)
    expect(throttle.admit("alice", "r1", 1000)).toBe(true)
    expect(throttle.admit("alice", "r1", 1500)).toBe(false)
    expect(throttle.admit("alice", "r1", 2000)).toBe(true)
  })

  it("typing - other users and other rooms have their own interval", () => {
    const throttle = makeTypingThrottle(1000)
    expect(throttle.admit("alice", "r1", 0)).toBe(true)
    expect(throttle.admit("bob", "r1", 1)).toBe(true)
    expect(throttle.admit("alice", "r2", 2)).toBe(true)
    expect(throttle.admit("alice", "r1", 3)).toBe(false)
  })

  it("typing - an interval of 0 relays every one", () => {
    const throttle = makeTypingThrottle(0)
    expect([0, 0, 0].map((t) => throttle.admit("alice", "r1", t))).toEqual([true, true, true])
  })

  it("typing - memory stays bounded by sweeping expired entries", () => {
    const throttle = makeTypingThrottle(1000, 10)
    for (let i = 0; i < 10; i++) throttle.admit(`u${i}`, "r", 0)
    // Full of fresh entries: a new typer clears the map rather than growing it.
    expect(throttle.admit("late", "r", 10)).toBe(true)
    expect(throttle.admit("u0", "r", 20)).toBe(true)
    // Expired entries are swept first: "late" (t=10) still throttles after a sweep at t=1005.
    for (let i = 0; i < 8; i++) throttle.admit(`v${i}`, "r", 1005)
    expect(throttle.admit("late", "r", 1005)).toBe(false)
  })
})
