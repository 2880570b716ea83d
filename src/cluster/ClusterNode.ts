/**
 * Clustered mode for one node (CHAT_NATS_URL set): NATS connection, membership, shard
 * manager, router and NATS room bus, assembled around the local room registry.
 */
import { Effect, Metric, Redacted, type Scope } from "effect"
import * as M from "../metrics/metrics.ts"
import type { Breaker } from "../resilience/Breaker.ts"
import type { RoomRegistry } from "../../actors/RoomRegistry.ts"
import * as Registry from "../../actors/RoomRegistry.ts"
import type { ActorDeps } from "../../actors/RoomActor.ts"
import { makeShardManager, type ShardManager } from "../../actors/ShardManager.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { RoomBus } from "../bus/RoomBus.ts"
import { notOwner } from "../domain/errors.ts"
import { makeMembership, type Membership } from "./Membership.ts"
import { connectNats, type ClusterError, type NatsHandle } from "./Nats.ts"
import { makeNatsBus } from "./NatsBus.ts"
import { makeRouter } from "./Router.ts"
import * as Subjects from "./subjects.ts"

export interface ClusterOptions {
  readonly natsUrl: Redacted.Redacted<string>
  readonly nodeId: string
  readonly shardCount: number
  readonly leaseMs: number
  readonly replicas: number
  readonly commandTimeoutMs: number
  /** Opened while the NATS connection is down: forwarded commands fail fast instead of waiting. */
  readonly breaker?: Breaker
  /** CHAT_NATS_PREFIX: this cluster's namespace on NATS; "" for the unprefixed names. */
  readonly natsPrefix: string
}

export interface ClusterNode {
  readonly nats: NatsHandle
  readonly bus: RoomBus
  /** The router: local actors for owned shards, NATS for the rest. */
  readonly registry: RoomRegistry
  readonly shards: ShardManager
  readonly membership: Membership
  /** Leave the cluster and hand every shard over; then local actors are idle. */
  readonly handOver: Effect.Effect<void>
}

const acquired = Metric.tagged(M.shardHandovers, "kind", "acquired")
const released = Metric.tagged(M.shardHandovers, "kind", "released")

export const makeClusterNode = (
  store: ChatStore,
  actorDeps: (bus: RoomBus) => Omit<ActorDeps, "fence">,
  registryOptions: Registry.RegistryOptions,
  o: ClusterOptions
): Effect.Effect<ClusterNode, ClusterError, Scope.Scope> =>
  Effect.gen(function* () {
    const nats = yield* connectNats({
      url: o.natsUrl,
      name: o.nodeId,
      leaseMs: o.leaseMs,
      replicas: o.replicas,
      onStatus: (up, detail) => (up ? o.breaker?.close() : o.breaker?.open(detail)),
      subjects: Subjects.make(o.natsPrefix)
    })
    const bus = makeNatsBus(nats.nc, nats.subjects)
    // The actors ask the shard manager for their fence; it exists once the registry does.
    let shards: ShardManager | undefined
    const local = yield* Registry.make(
      { ...actorDeps(bus), fence: (room) => (shards ? shards.fence(room) : Effect.fail(notOwner(room))) },
      registryOptions
    )
    const router = makeRouter(nats.nc, local, { owns: (s) => shards?.owns(s) ?? false }, {
      shardCount: o.shardCount,
      commandTimeoutMs: o.commandTimeoutMs,
      subjects: nats.subjects,
      ...(o.breaker ? { natsDown: o.breaker.reject } : {})
    })
    const membership = yield* makeMembership(nats, o.nodeId, o.leaseMs)
    shards = yield* makeShardManager(
      nats,
      membership,
      {
        serve: router.serveShard,
        registry: local,
        store,
        onHandover: (kind) => (kind === "acquired" ? acquired : released).unsafeUpdate(1, []),
        onRenewalFailed: () => M.leaseRenewalFailures.unsafeUpdate(1, [])
      },
      { nodeId: o.nodeId, shardCount: o.shardCount, leaseMs: o.leaseMs }
    )
    const manager = shards
    return {
      nats,
      bus,
      registry: router,
      shards: manager,
      membership,
      handOver: Effect.zipRight(membership.leave, manager.releaseAll)
    }
  })
