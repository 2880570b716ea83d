/**
 * What a room actor's mailbox holds: writes (group-committed together) and snapshots
 * (the actor's view of the room, answered after the writes queued before them).
 * Each envelope carries the Deferred its caller awaits.
 */
import type { Deferred } from "effect"
import type { ChatError } from "../src/domain/errors.ts"
import type { Role, RoomId, RoomKind, UserId } from "../src/domain/model.ts"
import type { OpResult, WriteOp } from "../storage/ops.ts"

export interface RoomSnapshot {
  readonly room: RoomId
  readonly kind: RoomKind
  readonly name?: string
  readonly createdAt: string
  readonly lastSeq: number
  readonly members: ReadonlyMap<UserId, Role>
}

export type Envelope =
  | {
      readonly _tag: "Write"
      readonly op: WriteOp
      readonly reply: Deferred.Deferred<OpResult, ChatError>
      /**
       * Set by the actor when it takes the write into a batch ("taken": its outcome is the
       * commit's), or by the registry when the caller's deadline passed first ("withdrawn":
       * the actor skips it, so the caller's `unavailable` means "not stored").
       */
      status?: "taken" | "withdrawn"
    }
  | { readonly _tag: "Snapshot"; readonly reply: Deferred.Deferred<RoomSnapshot, ChatError> }
  /**
   * From the registry's housekeeping: the actor has had nothing to do for `idleMs`;
   * it passivates if nothing else is queued. (A nudge instead of a timeout on every
   * mailbox take: a timeout races two fibers, which cost ~85 µs per batch here.)
   */
  | { readonly _tag: "Idle" }
