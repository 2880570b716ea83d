import { describe, expect, it } from "vitest"
import { Signal, waitFor } from "../support/wait.ts"

describe("test support - waitFor", () => {
  it("waitFor - re-checks on each signal and resolves once the condition holds", async () => {
    const signal = new Signal()
    let n = 0
    let checks = 0
    const waiting = waitFor("n to reach 3", () => (checks++, n >= 3), { on: signal, timeoutMs: 5_000 })
    for (let i = 0; i < 3; i++) {
      await Promise.resolve()
      n++
      signal.fire()
    }
    await waiting
    expect(n).toBe(3)
    // One check up front, then one per signal: no timer re-checks in between.
    expect(checks).toBeLessThanOrEqual(4)
  })

  it("waitFor - fails with what it waited for and the last state seen", async () => {
    await expect(waitFor("never", () => false, { timeoutMs: 50, intervalMs: 10, describe: () => ({ held: 2 }) })).rejects.toThrow(
      'timed out after 50 ms waiting for never; last seen: {"held":2}'
    )
  })
})
