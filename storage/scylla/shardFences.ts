/**
 * Shard fences (clustered mode): the lowest epoch a shard's rooms still accept. Raising one is
 * a compare-and-set loop on the shard's row; commits read it before claiming (./commit.ts).
 */
import { Effect } from "effect"
import { Fenced, StoreError } from "../../core/errors.ts"
import type { CqlClient } from "./CqlClient.ts"
import { num } from "./rows.ts"
import * as S from "./statements.ts"

/** Rounds lost to concurrent raises before giving up; each loss means another owner raised it. */
const MAX_ROUNDS = 20

export const shardFence = (cql: CqlClient, operation: string, shard: number, serial = false) =>
  Effect.map(cql.rows(operation, S.SHARD_FENCE, [shard], { serial }), ([row]) => (row === undefined ? undefined : num(row.epoch)))

export const fenceShard = (cql: CqlClient, shard: number, epoch: number): Effect.Effect<void, StoreError | Fenced> =>
  Effect.gen(function* () {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // Serial: the decision must see a raise that is accepted but not yet committed everywhere.
      const current = yield* shardFence(cql, "fenceShard", shard, true)
      if (current !== undefined && current > epoch) {
        return yield* new Fenced({ room: `shard:${shard}`, epoch, currentEpoch: current })
      }
      if (current === epoch) return
      const outcome = yield* cql.lwt(
        "fenceShard",
        current === undefined
          ? [{ query: S.CREATE_SHARD_FENCE, params: [shard, epoch] }]
          : [{ query: S.RAISE_SHARD_FENCE, params: [epoch, shard, current] }]
      )
      if (outcome._tag === "Applied") return
      // Lost to another raise, or unknown: read again and decide again.
    }
    return yield* new StoreError({ operation: "fenceShard", cause: new Error(`shard ${shard}: fence kept changing`) })
  })
