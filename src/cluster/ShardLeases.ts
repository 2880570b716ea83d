/**
 * The shard leases this node holds right now, and what they let it do: serve a shard
 * (`owns`) and commit to a room (`fence`). The ShardManager (./ShardManager.ts) acquires,
 * renews and releases them; the router and the room actors only read them. Kept apart so
 * that the actors (which need the fence), the router (which needs `owns`) and the manager
 * (which needs both of them) are built in that order, with no cycle.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { RoomFence, type Fence } from "../../actors/RoomActor.ts"
import { notOwner, type NotOwner } from "../../core/errors.ts"
import type { RoomId } from "../../core/model.ts"
import { shardOf } from "./ShardMap.ts"

export interface Held {
  revision: number
  readonly epoch: number
  /** Clock time (ms) until which this node may commit: self-fencing before the lease lapses. */
  validUntil: number
  releasing: boolean
  /** Closed on release: the shard's command subscription. */
  readonly scope: Scope.CloseableScope
}

export type Handover = { readonly shard: number; readonly kind: "acquired" | "released"; readonly ms: number }

export interface ShardLeases {
  /** Held leases by shard; written by the ShardManager only. */
  readonly held: Map<number, Held>
  /** True while this node may serve and commit for the shard. */
  readonly owns: (shard: number) => boolean
  /** For the room actor: the current fence of the room's shard, or notOwner. */
  readonly fence: (room: RoomId) => Fence | NotOwner
  readonly heldCount: () => number
  readonly record: (handover: Handover) => void
  /** Last hand-over durations in ms (release or acquire), for /readyz and tests. */
  readonly handovers: () => ReadonlyArray<Handover>
}

export class ShardLeasesTag extends Context.Tag("chat/ShardLeases")<ShardLeasesTag, ShardLeases>() {}

export const make = (shardCount: number): ShardLeases => {
  const held = new Map<number, Held>()
  const log: Array<Handover> = []
  const owns = (shard: number) => {
    const h = held.get(shard)
    return h !== undefined && !h.releasing && Date.now() < h.validUntil
  }
  return {
    held,
    owns,
    fence: (room) => {
      const shard = shardOf(room, shardCount)
      const h = held.get(shard)
      return h !== undefined && owns(shard) ? { epoch: h.epoch, shard } : notOwner(room)
    },
    heldCount: () => held.size,
    record: (handover) => {
      log.push(handover)
      if (log.length > 1000) log.splice(0, log.length - 1000)
    },
    handovers: () => log
  }
}

export const layer = (shardCount: number): Layer.Layer<ShardLeasesTag> => Layer.sync(ShardLeasesTag, () => make(shardCount))

/** The room actors' fence, from the leases. */
export const fenceLayer: Layer.Layer<RoomFence, never, ShardLeasesTag> = Layer.effect(
  RoomFence,
  Effect.map(ShardLeasesTag, (leases) => leases.fence)
)
