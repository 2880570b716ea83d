/**
 * Which shards this node owns, and the hand-overs that move them.
 *
 * Ownership of a shard is a lease in the NATS KV leases bucket: created with `create`
 * (fails while someone holds it), renewed with `update` at the last revision (fails if
 * anyone else wrote it), and gone when the holder deletes it or stops renewing (bucket
 * TTL). The revision at which a lease was created is the owner's fencing epoch: later
 * acquisitions always have higher revisions. Before serving a shard, a new owner raises
 * the shard's fence in the store to its epoch, so a previous owner that wakes up late
 * cannot commit (the store refuses its older epoch).
 *
 * Self-fencing: an owner may commit only until `renewedAt + lease - margin`; a node that
 * cannot renew (paused, cut off from NATS) stops committing on its own before its lease
 * can expire and another node can take the shard.
 *
 * Every tick the manager compares the shards it holds with the shards rendezvous hashing
 * gives it over the live members: it renews the ones it keeps, hands over the ones it no
 * longer should hold (unsubscribe, drain their room actors, delete the lease), and tries
 * to acquire the ones it should hold.
 */
import { Effect, Exit, Fiber, Schedule, Scope } from "effect"
import { notOwner, type Unavailable } from "../src/domain/errors.ts"
import type { RoomId } from "../src/domain/model.ts"
import type { Membership } from "../src/cluster/Membership.ts"
import { attempt, type NatsHandle } from "../src/cluster/Nats.ts"
import { shardOf, shardsOf } from "../src/cluster/ShardMap.ts"
import { leaseKey } from "../src/cluster/subjects.ts"
import type { ChatStore } from "../storage/ChatStore.ts"
import type { Fence } from "./RoomActor.ts"
import type { RoomRegistry } from "./RoomRegistry.ts"

export interface ShardManagerOptions {
  readonly nodeId: string
  readonly shardCount: number
  readonly leaseMs: number
}

export interface ShardManager {
  /** True while this node may serve and commit for the shard. */
  readonly owns: (shard: number) => boolean
  /** For the room actor: the current fence of the room's shard, or notOwner. */
  readonly fence: (room: RoomId) => Effect.Effect<Fence, Unavailable>
  readonly heldCount: () => number
  /** Shutdown: hand every shard over (others take them at once), and stop acquiring. */
  readonly releaseAll: Effect.Effect<void>
  /** Last hand-over durations in ms (release or acquire), for logs and tests. */
  readonly handovers: () => ReadonlyArray<{ shard: number; kind: "acquired" | "released"; ms: number }>
}

interface Held {
  revision: number
  readonly epoch: number
  validUntil: number
  releasing: boolean
  readonly scope: Scope.CloseableScope
}

export interface ShardHooks {
  /** Start serving a shard's command subject for the life of `scope`. */
  readonly serve: (shard: number) => Effect.Effect<void, unknown, Scope.Scope>
  readonly registry: RoomRegistry
  readonly store: ChatStore
  /** Observers for metrics (src/cluster/ClusterNode.ts wires them); plain callbacks, no effects. */
  readonly onHandover?: (kind: "acquired" | "released") => void
  readonly onRenewalFailed?: () => void
}

export const makeShardManager = (
  nats: NatsHandle,
  membership: Membership,
  hooks: ShardHooks,
  o: ShardManagerOptions
): Effect.Effect<ShardManager, never, Scope.Scope> =>
  Effect.gen(function* () {
    const held = new Map<number, Held>()
    const log: Array<{ shard: number; kind: "acquired" | "released"; ms: number }> = []
    // Renew at a third of the lease; stop committing a fifth of the lease before it lapses.
    const renewEveryMs = Math.floor(o.leaseMs / 3)
    const marginMs = Math.floor(o.leaseMs / 5)
    let stopped = false
    // Hand-overs of the current tick, for its one summary log line.
    let tickAcquired = 0
    let tickReleased = 0
    const now = () => Date.now()
    const record = (shard: number, kind: "acquired" | "released", ms: number) => {
      log.push({ shard, kind, ms })
      hooks.onHandover?.(kind)
      if (kind === "acquired") tickAcquired++
      else tickReleased++
      if (log.length > 1000) log.splice(0, log.length - 1000)
    }

    const owns = (shard: number) => {
      const h = held.get(shard)
      return h !== undefined && !h.releasing && now() < h.validUntil
    }

    const drop = (shard: number, h: Held) =>
      Effect.gen(function* () {
        h.releasing = true
        yield* Scope.close(h.scope, Exit.void)
        yield* hooks.registry.release((room) => shardOf(room, o.shardCount) === shard)
        held.delete(shard)
      })

    const release = (shard: number, h: Held) =>
      Effect.gen(function* () {
        const started = now()
        yield* drop(shard, h)
        yield* attempt("release lease", () => nats.leases.delete(leaseKey(shard), { previousSeq: h.revision })).pipe(
          Effect.catchAll((e) => Effect.logWarning("lease release failed; it will expire").pipe(Effect.annotateLogs({ shard, error: e.message })))
        )
        record(shard, "released", now() - started)
      })

    const renew = (shard: number, h: Held) =>
      Effect.gen(function* () {
        const started = now()
        const result = yield* Effect.either(attempt("renew lease", () => nats.leases.update(leaseKey(shard), o.nodeId, h.revision)))
        if (result._tag === "Right") {
          h.revision = result.right
          h.validUntil = started + o.leaseMs - marginMs
          return
        }
        hooks.onRenewalFailed?.()
        // A revision mismatch means someone else holds it now; anything else is a NATS
        // outage, and self-fencing (validUntil) covers it until the next try.
        const lost = /wrong last sequence|10071/i.test(result.left.message)
        if (lost || now() >= h.validUntil) {
          yield* Effect.logWarning("lost a shard lease").pipe(Effect.annotateLogs({ shard, reason: result.left.message }))
          yield* drop(shard, h)
        }
      })

    const acquire = (shard: number) =>
      Effect.gen(function* () {
        const started = now()
        const created = yield* Effect.either(attempt("acquire lease", () => nats.leases.create(leaseKey(shard), o.nodeId)))
        if (created._tag === "Left") return // held by another node, or NATS unreachable: next tick
        const epoch = created.right
        const fenced = yield* Effect.either(hooks.store.fenceShard(shard, epoch))
        if (fenced._tag === "Left") {
          yield* Effect.logError("could not fence a shard; releasing it").pipe(
            Effect.annotateLogs({ shard, epoch, error: fenced.left._tag })
          )
          yield* attempt("release lease", () => nats.leases.delete(leaseKey(shard), { previousSeq: epoch })).pipe(Effect.ignore)
          return
        }
        const scope = yield* Scope.make()
        const h: Held = { revision: epoch, epoch, validUntil: started + o.leaseMs - marginMs, releasing: false, scope }
        const served = yield* Effect.either(Scope.extend(hooks.serve(shard), scope))
        if (served._tag === "Left") {
          yield* Scope.close(scope, Exit.void)
          yield* attempt("release lease", () => nats.leases.delete(leaseKey(shard), { previousSeq: epoch })).pipe(Effect.ignore)
          return
        }
        held.set(shard, h)
        record(shard, "acquired", now() - started)
      })

    let lastRenew = 0
    const tick = Effect.gen(function* () {
      if (stopped) return
      const nodes = yield* membership.live
      const desired = new Set(shardsOf(o.nodeId, nodes, o.shardCount))
      const renewNow = now() - lastRenew >= renewEveryMs
      if (renewNow) lastRenew = now()
      const work: Array<Effect.Effect<void>> = []
      for (const [shard, h] of held) {
        if (h.releasing) continue
        if (!desired.has(shard)) work.push(release(shard, h))
        else if (renewNow || now() >= h.validUntil) work.push(renew(shard, h))
      }
      for (const shard of desired) if (!held.has(shard)) work.push(acquire(shard))
      tickAcquired = 0
      tickReleased = 0
      yield* Effect.all(work, { concurrency: 16, discard: true })
      // One line per tick that moved shards, not one per shard.
      if (tickAcquired > 0 || tickReleased > 0) {
        yield* Effect.logInfo("shards moved").pipe(
          Effect.annotateLogs({ node: o.nodeId, took: tickAcquired, handedOver: tickReleased, held: held.size, liveNodes: nodes.length })
        )
      }
    })

    const loop = yield* tick.pipe(
      Effect.catchAllCause((cause) => Effect.logError("shard manager tick failed").pipe(Effect.annotateLogs("cause", String(cause).slice(0, 300)))),
      Effect.repeat(Schedule.spaced("500 millis")),
      Effect.forkScoped
    )

    const releaseAll = Effect.gen(function* () {
      stopped = true
      yield* Fiber.interrupt(loop)
      const count = held.size
      yield* Effect.all(
        [...held].map(([shard, h]) => release(shard, h)),
        { concurrency: 16, discard: true }
      )
      if (count > 0) yield* Effect.logInfo("shards handed over on leave").pipe(Effect.annotateLogs({ node: o.nodeId, handedOver: count }))
    })
    yield* Effect.addFinalizer(() => releaseAll)

    return {
      owns,
      fence: (room) =>
        Effect.suspend(() => {
          const shard = shardOf(room, o.shardCount)
          const h = held.get(shard)
          return h !== undefined && owns(shard) ? Effect.succeed({ epoch: h.epoch, shard }) : Effect.fail(notOwner(room))
        }),
      heldCount: () => held.size,
      releaseAll,
      handovers: () => log
    }
  })

