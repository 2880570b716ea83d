/**
 * Which nodes are alive. Each node writes a heartbeat into the nodes bucket every quarter
 * of the lease time; the bucket's TTL drops a node that stopped writing. The live list is
 * re-read on every heartbeat and also follows the bucket's watch, so a join or a clean
 * leave is seen at once and a crash within one TTL.
 *
 * After an outage of NATS (a heartbeat failed), every heartbeat may have expired meanwhile:
 * the first node back would see itself alone and take every shard, only to hand them back
 * as the others reappear one by one. So for one lease time after its first heartbeat that
 * succeeds again, a node keeps the members it knew before the outage in its view (a clean
 * leave, seen through the watch, still removes one): each node takes back its own share,
 * and a node that really died during the outage is dropped one lease time later, as a
 * crash always is.
 */
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import { attempt, Nats, type ClusterError, type NatsHandle } from "./Nats.ts"

export interface Membership {
  /** Live node ids, sorted; always includes this node while it is running. */
  readonly live: Effect.Effect<ReadonlyArray<string>>
  /** Remove this node's heartbeat now (clean shutdown), so others rebalance at once. */
  readonly leave: Effect.Effect<void>
}

export class MembershipTag extends Context.Tag("chat/Membership")<MembershipTag, Membership>() {}

export const makeMembership = (
  nats: NatsHandle,
  nodeId: string,
  leaseMs: number
): Effect.Effect<Membership, ClusterError, Scope.Scope> =>
  Effect.gen(function* () {
    // A plain variable, not a Ref: the watch loop below is a Promise callback, and a Ref
    // read there would need an Effect run per watch event.
    let view: ReadonlyArray<string> = [nodeId]
    let leaving = false
    // The view before a NATS outage, kept until `graceUntil` after it (see above).
    let beforeOutage: ReadonlyArray<string> | undefined
    let inOutage = false
    let graceUntil = 0
    const beat = attempt("heartbeat", () => nats.nodes.put(nodeId, JSON.stringify({ at: Date.now() })))
    const refresh = Effect.gen(function* () {
      const keys = yield* attempt("list nodes", async () => {
        const out: string[] = []
        for await (const k of await nats.nodes.keys()) out.push(k)
        return out
      })
      const kept = beforeOutage !== undefined && Date.now() < graceUntil ? beforeOutage : []
      view = [...new Set([...keys, ...kept, ...(leaving ? [] : [nodeId])])].sort()
    })
    const markOutage = () => {
      if (inOutage) return
      inOutage = true
      beforeOutage = view
    }
    const outage = Effect.sync(markOutage)
    const backAfterOutage = Effect.sync(() => {
      if (!inOutage) return
      inOutage = false
      graceUntil = Date.now() + leaseMs
    })
    yield* beat
    yield* refresh
    yield* Effect.logInfo("joined the cluster").pipe(
      Effect.annotateLogs({ node: nodeId, liveNodes: view.length })
    )
    yield* beat.pipe(
      Effect.zipRight(backAfterOutage),
      Effect.zipRight(refresh),
      Effect.catchAll((e) =>
        Effect.zipRight(outage, Effect.logWarning("cluster heartbeat failed").pipe(Effect.annotateLogs("error", e.message)))
      ),
      Effect.repeat(Schedule.spaced(`${Math.floor(leaseMs / 4)} millis`)),
      Effect.forkScoped
    )
    // A dropped connection is an outage even if it ends before a heartbeat fails: the
    // heartbeats may still have expired meanwhile.
    const statuses = nats.nc.status()
    yield* Effect.forkScoped(
      Effect.promise(async () => {
        for await (const status of statuses) if (status.type === "disconnect") markOutage()
      })
    )
    // Joins and clean leaves arrive through the watch; expiries only through refresh.
    const watch = yield* attempt("watch nodes", () => nats.nodes.watch({ ignoreDeletes: false }))
    yield* Effect.forkScoped(
      Effect.promise(async () => {
        for await (const e of watch) {
          const id = e.key
          const current = view
          const next = e.operation === "PUT" ? [...new Set([...current, id])].sort() : current.filter((n) => n !== id || (n === nodeId && !leaving))
          view = next
          // A clean leave is final, outage or not.
          if (e.operation !== "PUT" && beforeOutage !== undefined) beforeOutage = beforeOutage.filter((n) => n !== id)
        }
      })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => watch.stop()))
    return {
      live: Effect.sync(() => view),
      leave: Effect.gen(function* () {
        leaving = true
        yield* attempt("leave", () => nats.nodes.delete(nodeId)).pipe(Effect.ignore)
        view = view.filter((n) => n !== nodeId)
      })
    }
  })

export const layer = (nodeId: string, leaseMs: number): Layer.Layer<MembershipTag, ClusterError, Nats> =>
  Layer.scoped(MembershipTag, Effect.flatMap(Nats, (nats) => makeMembership(nats, nodeId, leaseMs)))
