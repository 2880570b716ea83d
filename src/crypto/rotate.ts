/**
 * Master key rotation: re-wrap every room key that is not under the ring's current master key.
 * Messages are not touched (they are under the room data keys, which do not change), so this
 * costs one row per room however long the history. Run with the new key as current and the
 * old ones in the ring (`npm run chat -- rotate-master-key` with CHAT_MASTER_KEY = new,
 * CHAT_MASTER_KEYS_OLD = old); afterwards the old keys can be dropped from configuration.
 *
 * Idempotent: a second run finds every key current and writes nothing, and a run interrupted
 * half way is finished by running it again.
 */
import { Effect } from "effect"
import { KeyUnavailable } from "./errors.ts"
import type { CryptoError } from "./errors.ts"
import type { KeyRing } from "./KeyRing.ts"
import type { StoreError } from "../../core/errors.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"

export interface RotationReport {
  readonly rewrapped: number
  readonly alreadyCurrent: number
}

/** Rewraps are one small row update each; a few at a time keeps a pool busy without hogging it. */
const REWRAP_CONCURRENCY = 4

export const rotateMasterKey = (
  store: ChatStore,
  ring: KeyRing
): Effect.Effect<RotationReport, StoreError | CryptoError> =>
  Effect.gen(function* () {
    const keys = yield* store.allRoomKeys
    const stale = keys.filter((k) => k.masterKeyId !== ring.currentMasterKeyId)
    // Check every needed master key before writing anything, so a missing old key fails the
    // run up front (naming the key id) instead of leaving it half done.
    const missing = stale.find((k) => !ring.hasMasterKey(k.masterKeyId))
    if (missing !== undefined) {
      return yield* new KeyUnavailable({ kind: "master", keyId: missing.masterKeyId, room: missing.room })
    }
    yield* Effect.forEach(stale, (k) => Effect.flatMap(ring.rewrap(k), store.rewrapRoomKey), {
      concurrency: REWRAP_CONCURRENCY,
      discard: true
    })
    return { rewrapped: stale.length, alreadyCurrent: keys.length - stale.length }
  })
