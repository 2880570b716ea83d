/** core/plan.ts `planSends` (the one-statement commit's planner) rules sends exactly as `plan` does. */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { SYSTEM_SENDER, type Role, type RoomId, type UserId } from "../../core/model.ts"
import type { WriteOp } from "../../core/ops.ts"
import { plan, planSends } from "../../core/plan.ts"

type Send = Extract<WriteOp, { _tag: "Send" }>

const ROOM = "0190a3c4-7e21-7abc-8def-0123456789ab" as RoomId
const NOW = "2026-12-05T08:00:00.000Z"
const members = new Map<UserId, Role>([
  ["alice" as UserId, "owner"],
  ["bob" as UserId, "member"]
])

// Senders: members, a non-member, the system (flagged or not); keys that collide, including
// two that are stored alike (a lone surrogate is stored as U+FFFD).
const send: fc.Arbitrary<Send> = fc.record({
  actor: fc.constantFrom("alice", "bob", "mallory", SYSTEM_SENDER),
  system: fc.boolean(),
  clientMsgId: fc.constantFrom("a", "b", "k\ud800", "k\ufffd", "c"),
  body: fc.string({ maxLength: 8 }),
  n: fc.integer({ min: 0, max: 1_000_000 })
}).map(({ actor, system, clientMsgId, body, n }) => ({
  _tag: "Send" as const,
  actor: actor as UserId,
  messageId: `0190a3c4-7e21-7abc-8def-${String(n).padStart(12, "0")}`,
  clientMsgId,
  body,
  ...(system ? { system: true } : {})
}))

describe("planSends", () => {
  it("planSends - agrees with plan on every batch of sends (results, last seq, messages)", () => {
    fc.assert(
      fc.property(fc.array(send, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 50 }), (ops, lastSeq) => {
        const full = plan({ room: ROOM, kind: "group", lastSeq, members, ops, targets: new Map(), sent: new Map(), reactions: new Set(), now: NOW })
        const fast = planSends(ROOM, lastSeq, members, ops, NOW)
        expect(fast.results).toEqual(full.results)
        expect(fast.lastSeq).toBe(full.lastSeq)
        expect(fast.messages).toEqual(full.messages)
      }),
      { numRuns: 2_000 }
    )
  })

  it("planSends - a resend in the same batch is a duplicate of the first, and a non-member is refused", () => {
    const op = (actor: string, clientMsgId: string, n: number): Send => ({
      _tag: "Send",
      actor: actor as UserId,
      messageId: `0190a3c4-7e21-7abc-8def-00000000000${n}`,
      clientMsgId,
      body: "hi"
    })
    const out = planSends(ROOM, 7, members, [op("alice", "x", 1), op("alice", "x", 2), op("mallory", "y", 3)], NOW)
    expect(out.lastSeq).toBe(8)
    expect(out.results.map((r) => r._tag)).toEqual(["Committed", "Duplicate", "Rejected"])
    expect(out.results[1]).toEqual({ _tag: "Duplicate", ack: { room: ROOM, seq: 8, messageId: "0190a3c4-7e21-7abc-8def-000000000001", ts: NOW } })
  })
})
