/**
 * The in-process Presence (src/chat/Presence.ts): one node is the whole cluster.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeLocal } from "../../src/chat/Presence.ts"
import type { RoomId, UserId } from "../../core/model.ts"

const room = "0190f3a0-0000-7000-8000-000000000001" as RoomId
const other = "0190f3a0-0000-7000-8000-000000000002" as RoomId
const alice = "alice" as UserId
const bob = "bob" as UserId

describe("presence - in process", () => {
  it.effect("answers first join and last leave per room, counting every subscription", () =>
    Effect.gen(function* () {
      const p = makeLocal()
      expect(yield* p.join(room, alice)).toBe(true)
      expect(yield* p.join(room, alice)).toBe(false)
      expect(yield* p.join(other, alice)).toBe(true)
      expect(yield* p.join(room, bob)).toBe(true)
      expect([...(yield* p.online(room))].sort()).toEqual([alice, bob])
      expect(yield* p.leave(room, alice)).toBe(false)
      expect(yield* p.leave(room, alice)).toBe(true)
      expect(yield* p.leave(room, alice)).toBe(false)
      expect(yield* p.online(room)).toEqual([bob])
      expect(yield* p.online(other)).toEqual([alice])
      expect(yield* p.status).toBe("ok")
    })
  )

  it.effect("answers first and last socket per user, and which users have one", () =>
    Effect.gen(function* () {
      const p = makeLocal()
      expect(yield* p.connected(alice)).toBe(true)
      expect(yield* p.connected(alice)).toBe(false)
      expect(yield* p.onlineUsers([alice, bob])).toEqual(new Set([alice]))
      expect(yield* p.disconnected(alice)).toBe(false)
      expect(yield* p.disconnected(alice)).toBe(true)
      expect(yield* p.disconnected(alice)).toBe(false)
      expect(yield* p.onlineUsers([alice, bob])).toEqual(new Set())
    })
  )
})
