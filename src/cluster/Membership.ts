/**
 * Which nodes are alive. Each node writes a heartbeat into the nodes bucket every quarter
 * of the lease time; the bucket's TTL drops a node that stopped writing. The live list is
 * re-read on every heartbeat and also follows the bucket's watch, so a join or a clean
 * leave is seen at once and a crash within one TTL.
 */
import { Effect, Ref, Schedule, type Scope } from "effect"
import { attempt, type ClusterError, type NatsHandle } from "./Nats.ts"

export interface Membership {
  /** Live node ids, sorted; always includes this node while it is running. */
  readonly live: Effect.Effect<ReadonlyArray<string>>
  /** Remove this node's heartbeat now (clean shutdown), so others rebalance at once. */
  readonly leave: Effect.Effect<void>
}

export const makeMembership = (
  nats: NatsHandle,
  nodeId: string,
  leaseMs: number
): Effect.Effect<Membership, ClusterError, Scope.Scope> =>
  Effect.gen(function* () {
    const view = yield* Ref.make<ReadonlyArray<string>>([nodeId])
    let leaving = false
    const beat = attempt("heartbeat", () => nats.nodes.put(nodeId, JSON.stringify({ at: Date.now() })))
    const refresh = Effect.gen(function* () {
      const keys = yield* attempt("list nodes", async () => {
        const out: string[] = []
        for await (const k of await nats.nodes.keys()) out.push(k)
        return out
      })
      yield* Ref.set(view, [...new Set([...keys, ...(leaving ? [] : [nodeId])])].sort())
    })
    yield* beat
    yield* refresh
    yield* Effect.logInfo("joined the cluster").pipe(
      Effect.annotateLogs({ node: nodeId, liveNodes: (yield* Ref.get(view)).length })
    )
    yield* Effect.zipRight(beat, refresh).pipe(
      Effect.catchAll((e) => Effect.logWarning("cluster heartbeat failed").pipe(Effect.annotateLogs("error", e.message))),
      Effect.repeat(Schedule.spaced(`${Math.floor(leaseMs / 4)} millis`)),
      Effect.forkScoped
    )
    // Joins and clean leaves arrive through the watch; expiries only through refresh.
    const watch = yield* attempt("watch nodes", () => nats.nodes.watch({ ignoreDeletes: false }))
    yield* Effect.forkScoped(
      Effect.promise(async () => {
        for await (const e of watch) {
          const id = e.key
          const current = Effect.runSync(Ref.get(view))
          const next = e.operation === "PUT" ? [...new Set([...current, id])].sort() : current.filter((n) => n !== id || (n === nodeId && !leaving))
          Effect.runSync(Ref.set(view, next))
        }
      })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => watch.stop()))
    return {
      live: Ref.get(view),
      leave: Effect.gen(function* () {
        leaving = true
        yield* attempt("leave", () => nats.nodes.delete(nodeId)).pipe(Effect.ignore)
        yield* Ref.update(view, (v) => v.filter((n) => n !== nodeId))
      })
    }
  })
