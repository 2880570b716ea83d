/**
 * Test data for the migration tests: rooms filled through the encryption layer (so both stores
 * hold ciphertext), with edits, deletes, reactions, member changes, read positions, pins and
 * devices. Room ids are chosen so rooms sort in a known order (the backfill walks them by id).
 */
import { Effect, Option } from "effect"
import type { RoomId, UserId } from "../../core/model.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { WriteOp } from "../../core/ops.ts"

/** A room id whose first hex digit is `first` (0..15): rooms sort by it. */
export const roomIdStartingWith = (first: number): RoomId =>
  (first.toString(16) + crypto.randomUUID().slice(1)) as RoomId

const commit = (store: ChatStore, room: RoomId, ops: ReadonlyArray<WriteOp>) =>
  Effect.gen(function* () {
    const head = Option.getOrThrow(yield* store.loadRoom(room))
    return yield* store.commit(room, head.epoch, head.members, ops)
  })

export interface Filled {
  readonly rooms: ReadonlyArray<RoomId>
  readonly messages: number
  readonly bodies: ReadonlyArray<string>
}

/** `sizes[i]` messages in room i; room i's id starts with hex digit i. */
export const fill = (store: ChatStore, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const tag = crypto.randomUUID().slice(0, 6)
    const [ann, bob, cat, dan] = ["ann", "bob", "cat", "dan"].map((n) => `${n}-${tag}` as UserId)
    const rooms: Array<RoomId> = []
    const bodies: Array<string> = []
    let messages = 0
    for (const [i, size] of sizes.entries()) {
      const room = yield* store.createGroupRoom({ id: roomIdStartingWith(i), name: `room ${i}`, owner: ann, members: [bob, cat] })
      rooms.push(room.id)
      for (let from = 0; from < size; from += 100) {
        const n = Math.min(100, size - from)
        const ops: Array<WriteOp> = Array.from({ length: n }, (_, k) => {
          const body = `secret body ${tag} ${i}/${from + k}`
          if (k < 3) bodies.push(body)
          return {
            _tag: "Send",
            actor: k % 2 === 0 ? ann : bob,
            messageId: crypto.randomUUID(),
            clientMsgId: `m${from + k}`,
            body,
            ...(k > 0 && k % 10 === 0 ? { replyTo: 1 } : {})
          } satisfies WriteOp
        })
        yield* commit(store, room.id, ops)
        messages += n
      }
      if (size >= 6) {
        // seq 1 and 3 are ann's (even k), seq 2 is bob's.
        yield* commit(store, room.id, [
          { _tag: "Edit", actor: ann, seq: 1, body: `edited ${tag} ${i}` },
          { _tag: "Delete", actor: ann, seq: 3 },
          { _tag: "React", actor: bob, seq: 1, emoji: "👍", remove: false },
          { _tag: "React", actor: cat, seq: 1, emoji: "👍", remove: false },
          { _tag: "React", actor: cat, seq: 2, emoji: "🎉", remove: false },
          { _tag: "React", actor: cat, seq: 2, emoji: "🎉", remove: true },
          { _tag: "AddMembers", actor: ann, users: [dan] },
          { _tag: "RemoveMember", actor: ann, user: cat }
        ])
      }
      yield* store.markRead(room.id, bob, Math.floor(size / 2))
      yield* store.setPinned(room.id, bob, i % 2 === 0)
    }
    yield* store.registerDevice(ann, `tok-${tag}-1`, "fcm")
    yield* store.registerDevice(bob, `tok-${tag}-2`, "apns")
    return { rooms, messages, bodies } satisfies Filled
  })
