import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as AfterCommit from "../../actors/AfterCommit.ts"
import * as Registry from "../../actors/RoomRegistry.ts"
import type { ChatEvent, RoomId, RoomKind, UserId } from "../../core/model.ts"
import { ChatStoreTag } from "../../storage/ChatStore.ts"
import { layerMemory as storeMemory } from "../../storage/memory/MemoryStore.ts"
import { uuidv7 } from "../../src/util/uuid.ts"

const alice = "alice" as UserId
const bob = "bob" as UserId

const registryOptions = {
  maxBatch: 64,
  idleMs: 60_000,
  mailboxCapacity: 64,
  commandTimeoutMs: 5_000,
  restartBaseMs: 10,
  restartMaxMs: 100,
  onRestart: () => Effect.void
}

/** The room registry as the node composes it: over the store and AfterCommit in context. */
const node = (ports: AfterCommit.AfterCommitPorts) =>
  Registry.layer(registryOptions).pipe(Layer.provideMerge(Layer.merge(storeMemory, AfterCommit.layer(ports))))

describe("after commit", () => {
  it.effect("after commit - each committed event is published in seq order, members invalidated, messages counted", () =>
    Effect.gen(function* () {
      const order: string[] = []
      const published: ChatEvent[] = []
      const sent: Array<[RoomKind, number]> = []
      const ports: AfterCommit.AfterCommitPorts = {
        publish: (_room, event) => void (published.push(event), order.push(`publish ${event.seq}`)),
        pushIntents: (_room, _kind, events) => void order.push(`push ${events.length}`),
        invalidateMembers: () => Effect.sync(() => void order.push("invalidate")),
        countSent: (kind, n) => void sent.push([kind, n])
      }
      yield* Effect.gen(function* () {
        const registry = yield* Registry.RoomRegistryTag
        const store = yield* ChatStoreTag
        const room = (yield* store.createGroupRoom({ id: uuidv7() as RoomId, name: "r", owner: alice, members: [] })).id
        yield* Effect.flatten(registry.write(room, { _tag: "Send", actor: alice, messageId: uuidv7(), clientMsgId: "m1", body: "hi" }))
        yield* Effect.flatten(registry.write(room, { _tag: "AddMembers", actor: alice, users: [bob] }))
      }).pipe(Effect.provide(node(ports)))
      expect(published.map((e) => [e.seq, e.kind])).toEqual([
        [1, "message.created"],
        [2, "member.joined"]
      ])
      // Per batch: the cache first (only for a membership change), then push intents, then the fan-out.
      expect(order).toEqual(["push 1", "publish 1", "invalidate", "push 1", "publish 2"])
      expect(sent).toEqual([["group", 1]])
    }))
})
