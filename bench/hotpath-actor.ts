/**
 * Micro-measure of the actor path per batch (no network, no database): a registry over the
 * in-memory store, one send per batch, callbacks only. Prints µs of CPU per send.
 *   node --import tsx bench/hotpath-actor.ts [sends]
 */
import { Effect } from "effect"
import * as Registry from "../actors/RoomRegistry.ts"
import type { RoomId, UserId } from "../core/model.ts"
import { makeMemoryStore } from "../storage/memory/MemoryStore.ts"
import { uuidv7 } from "../src/util/uuid.ts"

const n = Number(process.argv[2] ?? 20_000)
const alice = "alice" as UserId
const program = Effect.scoped(
  Effect.gen(function* () {
    const store = makeMemoryStore()
    const registry = yield* Registry.make(
      { store, maxBatch: 256, idleMs: 60_000, onCommitted: () => undefined },
      { mailboxCapacity: 1024, commandTimeoutMs: 5_000, restartBaseMs: 10, restartMaxMs: 100, onRestart: () => Effect.void }
    )
    const rooms: Array<RoomId> = []
    for (let i = 0; i < 100; i++) rooms.push((yield* store.createGroupRoom({ id: uuidv7() as RoomId, name: "r", owner: alice, members: [] })).id)
    const run = (count: number) =>
      Effect.async<void>((resume) => {
        let done = 0
        let i = 0
        // One send per room in flight: each batch holds one send, as at 1,000 msg/s in rooms of 2.
        const next = (room: RoomId) => {
          if (i >= count) return
          i++
          registry.submit!(room, { _tag: "Send", actor: alice, messageId: uuidv7(), clientMsgId: `c${i}`, body: "hello" }, () => {
            if (++done === count) resume(Effect.void)
            else next(room)
          })
        }
        for (const r of rooms) next(r)
      })
    yield* run(2_000)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    yield* run(n)
    const cpu = process.cpuUsage(cpu0)
    console.log(`${n} sends: ${(((cpu.user + cpu.system) / n)).toFixed(1)} µs CPU per send, ${((performance.now() - t0) * 1000 / n).toFixed(1)} µs wall`)
  })
)
Effect.runPromise(program)
