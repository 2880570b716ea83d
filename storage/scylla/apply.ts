/**
 * Applying intents (./intent.ts), and remembering which ones this store has applied so the
 * head's last intent is written again only by a store that has not seen it done (a new node
 * taking over the room, or a reader after a writer died between claim and apply).
 */
import { Effect } from "effect"
import { BoundedMap } from "../../core/util/BoundedMap.ts"
import { StoreError } from "../../core/errors.ts"
import type { RoomId } from "../../core/model.ts"
import type { CqlClient } from "./CqlClient.ts"
import type { Head } from "./head.ts"
import { decodeIntent, type Intent, intentWrites } from "./intent.ts"

/** Partitions written at once per batch: enough to hide latency, few enough not to flood a node. */
const WRITE_CONCURRENCY = 16
/** Rooms whose applied head version is remembered; beyond that the oldest is forgotten (and re-applied once if needed). */
const REMEMBERED_ROOMS = 10_000

export interface Applier {
  readonly apply: (room: RoomId, version: number, intent: Intent) => Effect.Effect<void, StoreError>
  /** Makes sure the head's intent is written before anybody reads or plans on top of it. */
  readonly ensureApplied: (room: RoomId, head: Head) => Effect.Effect<void, StoreError>
}

export const makeApplier = (cql: CqlClient): Applier => {
  const applied = new BoundedMap<string, number>(REMEMBERED_ROOMS)

  const apply: Applier["apply"] = (room, version, intent) =>
    Effect.forEach(intentWrites(room, intent), (group) => cql.write("applyIntent", group), {
      concurrency: WRITE_CONCURRENCY,
      discard: true
    }).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          // Concurrent fibers may finish out of order; remember the newest version.
          if ((applied.get(room) ?? -1) < version) applied.set(room, version)
        })
      )
    )

  return {
    apply,
    ensureApplied: (room, head) =>
      head.intent === undefined || applied.get(room) === head.version
        ? Effect.void
        : Effect.flatMap(
            Effect.try({
              try: () => decodeIntent(head.intent!),
              catch: (cause) => new StoreError({ operation: "applyIntent", cause })
            }),
            (intent) => apply(room, head.version, intent)
          )
  }
}
