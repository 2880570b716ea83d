/**
 * One incarnation of a room actor: rehydrate the room from storage, then serve the
 * mailbox. Everything queued while a commit is in flight is committed together in the
 * next transaction (group commit), so a busy room pays one round trip per batch, not per
 * message. The actor is the room's only writer on this node; the store's fencing epoch
 * guards against writers on other nodes.
 *
 * An incarnation ends in one of three ways:
 * - "passivated": idle for `idleMs` with an empty mailbox; the registry forgets it;
 * - "gone": the room does not exist; queued commands are answered not_found;
 * - failure: a commit failed or died. The batch in flight is answered `unavailable`
 *   (a retry with the same clientMsgId is safe), queued commands stay in the mailbox,
 *   and the supervisor starts a new incarnation after a backoff.
 */
import { Cause, Chunk, Clock, Context, Deferred, Effect, Option, Queue } from "effect"
import { NotFound, notOwner, Timeout, Unavailable, type ChatError, type NotOwner } from "../core/errors.ts"
import type { ChatEvent, Role, RoomId, RoomKind, UserId } from "../core/model.ts"
import type { ChatStore } from "../storage/ChatStore.ts"
import type { WriteOp } from "../core/ops.ts"
import type { OnCommitted } from "./AfterCommit.ts"
import type { Envelope, RoomSnapshot } from "./Mailbox.ts"

/** Clustered mode: the right to commit to a room, checked before every commit. */
export interface Fence {
  readonly epoch: number
  readonly shard: number
}

/**
 * Clustered mode: this node's current fence for a room, or notOwner. Absent from the
 * context in embedded mode, where the single node owns every room.
 */
export class RoomFence extends Context.Tag("chat/RoomFence")<
  RoomFence,
  (room: RoomId) => Effect.Effect<Fence, NotOwner>
>() {}

export interface ActorDeps {
  readonly store: ChatStore
  /**
   * Clustered mode: this node's current right to commit to `room` (its shard lease epoch),
   * or notOwner. Absent in embedded mode, where the single node always owns every room.
   */
  readonly fence?: (room: RoomId) => Effect.Effect<Fence, NotOwner>
  /** Called once per committed batch, in seq order, before the batch's callers are answered (./AfterCommit.ts). */
  readonly onCommitted: OnCommitted
  readonly maxBatch: number
  readonly idleMs: number
  /**
   * Whether the store can take commands now (its circuit breaker): the error to answer while
   * it cannot. The registry refuses new commands with it, and an actor that fails while it
   * refuses answers what it holds and stops instead of restarting against a dead store.
   */
  readonly admit?: () => ChatError | undefined
}

export interface ActorCell {
  readonly room: RoomId
  readonly mailbox: Queue.Queue<Envelope>
  /** Set (synchronously) when the registry must no longer offer to this mailbox. */
  closed: boolean
  /** Clock time (ms) of the actor's last start or batch: the registry nudges it to passivate after `idleMs`. */
  lastActive: number
}

export type ActorExit = "passivated" | "gone" | "fenced"

/** An incarnation failed: the commit error or defect, kept for logs. */
export class ActorCrashed {
  readonly _tag = "ActorCrashed"
  constructor(readonly room: RoomId, readonly cause: Cause.Cause<unknown>) {}
}

interface State {
  kind: RoomKind
  name: string | undefined
  createdAt: string
  lastSeq: number
  epoch: number
  members: Map<UserId, Role>
}

const snapshotOf = (room: RoomId, s: State): RoomSnapshot => ({
  room,
  kind: s.kind,
  ...(s.name !== undefined ? { name: s.name } : {}),
  createdAt: s.createdAt,
  lastSeq: s.lastSeq,
  members: new Map(s.members)
})

const applyEvents = (s: State, events: ReadonlyArray<ChatEvent>) => {
  for (const e of events) {
    if (e.seq > s.lastSeq) s.lastSeq = e.seq
    const data = e.data as { user?: UserId; role?: Role; name?: string }
    if (e.kind === "member.joined" && data.user) s.members.set(data.user, data.role ?? "member")
    else if (e.kind === "member.left" && data.user) s.members.delete(data.user)
    else if (e.kind === "room.updated") s.name = data.name
  }
}

const failEnvelope = (env: Envelope, error: ChatError) =>
  env._tag === "Write" ? Deferred.fail(env.reply, error) : env._tag === "Snapshot" ? Deferred.fail(env.reply, error) : Effect.void

const unavailable = new Unavailable({ message: "room is restarting; retry (same clientMsgId is safe)" })
const commitUnknown = new Timeout({
  message: "the database did not answer the commit in time; it may or may not be stored; retry with the same clientMsgId"
})

/** A commit that failed on its deadline (the store says `outcomeUnknown`): it may still land. */
const outcomeUnknown = (cause: Cause.Cause<unknown>) =>
  Cause.failureOption(cause).pipe(
    Option.exists((e) => (e as { cause?: { outcomeUnknown?: unknown } })?.cause?.outcomeUnknown === true)
  )

/** Answer everything still queued (used when the room is gone or the node shuts down). */
export const failQueued = (cell: ActorCell, error: ChatError) =>
  Effect.gen(function* () {
    cell.closed = true
    const rest = yield* Queue.takeAll(cell.mailbox)
    yield* Effect.forEach(rest, (env) => failEnvelope(env, error), { discard: true })
  })

export const runIncarnation = (cell: ActorCell, deps: ActorDeps): Effect.Effect<ActorExit, ActorCrashed> =>
  Effect.gen(function* () {
    const { room, mailbox } = cell
    const lostOwnership = (batch: ReadonlyArray<Envelope>) =>
      Effect.gen(function* () {
        // Another node owns the room now: answer not_owner (the router retries there) and
        // stop; restarting here would only be refused again.
        yield* Effect.forEach(batch, (env) => failEnvelope(env, notOwner(room)), { discard: true })
        yield* failQueued(cell, notOwner(room))
        return "fenced" as const
      })
    const initialFence = deps.fence ? yield* Effect.either(deps.fence(room)) : undefined
    if (initialFence !== undefined && initialFence._tag === "Left") return yield* lostOwnership([])
    if (initialFence !== undefined && initialFence._tag === "Right") {
      // Take the room over before reading it: an empty commit at our epoch. Any older
      // owner's commit then either landed before it (and is read below) or is refused.
      const claimed = yield* Effect.exit(
        deps.store.commit(room, initialFence.right.epoch, new Map(), [], initialFence.right.shard)
      )
      if (claimed._tag === "Failure") {
        if (Cause.failureOption(claimed.cause).pipe(Option.exists((e) => e._tag === "Fenced"))) return yield* lostOwnership([])
        const refused = deps.admit?.()
        if (refused !== undefined) {
          yield* failQueued(cell, refused)
          return "passivated" as const
        }
        return yield* Effect.fail(new ActorCrashed(room, claimed.cause))
      }
    }
    /**
     * A failure while the store's circuit is open: answer every queued command (none was
     * taken: nothing of theirs is stored) and stop; the next command after recovery starts
     * a fresh actor at once, instead of waiting out a restart backoff grown during the outage.
     */
    const outage = Effect.gen(function* () {
      const refused = deps.admit?.()
      if (refused === undefined) return false
      yield* failQueued(cell, refused)
      return true
    })
    const loaded = yield* deps.store.loadRoom(room).pipe(
      Effect.catchAllCause((cause) =>
        Effect.flatMap(outage, (stopped) => (stopped ? Effect.succeed("outage" as const) : Effect.fail(new ActorCrashed(room, cause))))
      )
    )
    if (loaded === "outage") return "passivated" as const
    if (Option.isNone(loaded)) {
      yield* failQueued(cell, new NotFound({ message: "room not found" }))
      return "gone" as const
    }
    const head = loaded.value
    const state: State = {
      kind: head.room.kind,
      name: head.room.name,
      createdAt: head.room.createdAt,
      lastSeq: head.room.lastSeq,
      epoch: initialFence?._tag === "Right" ? Math.max(initialFence.right.epoch, 0) : head.epoch,
      members: new Map(head.members)
    }

    cell.lastActive = yield* Clock.currentTimeMillis
    while (true) {
      const first = yield* Queue.take(mailbox)
      const more = yield* Queue.takeUpTo(mailbox, deps.maxBatch - 1)
      // One synchronous step: a write is either taken here or withdrawn by its caller's deadline.
      const batch = [first, ...Chunk.toReadonlyArray(more)].filter((e) => {
        if (e._tag === "Idle") return false
        if (e._tag === "Write") {
          if (e.status === "withdrawn") return false
          e.status = "taken"
        }
        return true
      })
      if (batch.length === 0) {
        // Only the registry's idle nudge: passivate if nothing arrived since. The check and
        // the close are one synchronous step, and the registry offers synchronously too, so
        // no command can slip between.
        const idle = yield* Effect.sync(() => {
          if (Option.getOrElse(mailbox.unsafeSize(), () => 0) > 0) return false
          cell.closed = true
          return true
        })
        if (idle) return "passivated" as const
        continue
      }
      cell.lastActive = yield* Clock.currentTimeMillis
      const writes = batch.filter((e): e is Extract<Envelope, { _tag: "Write" }> => e._tag === "Write")

      if (writes.length > 0) {
        const ops: ReadonlyArray<WriteOp> = writes.map((w) => w.op)
        // Self-fencing: re-checked right before every commit, so a node whose lease has
        // lapsed (paused, partitioned) stops writing on its own, before the store has to refuse.
        const fence = deps.fence ? yield* Effect.either(deps.fence(room)) : undefined
        if (fence !== undefined && fence._tag === "Left") return yield* lostOwnership(batch)
        if (fence !== undefined && fence._tag === "Right") state.epoch = fence.right.epoch
        const exit = yield* Effect.exit(
          deps.store.commit(room, state.epoch, state.members, ops, fence?._tag === "Right" ? fence.right.shard : undefined)
        )
        if (exit._tag === "Failure" && Cause.failureOption(exit.cause).pipe(Option.exists((e) => e._tag === "Fenced"))) {
          return yield* lostOwnership(batch)
        }
        if (exit._tag === "Failure") {
          const answer = outcomeUnknown(exit.cause) ? commitUnknown : unavailable
          yield* Effect.forEach(batch, (env) => failEnvelope(env, env._tag === "Write" ? answer : unavailable), { discard: true })
          const refused = deps.admit?.()
          if (refused !== undefined) {
            yield* failQueued(cell, refused)
            return "passivated" as const
          }
          return yield* Effect.fail(new ActorCrashed(room, exit.cause))
        }
        const results = exit.value
        const events = results.flatMap((r) => (r._tag === "Committed" ? r.events : []))
        if (events.length > 0) {
          applyEvents(state, events)
          yield* deps.onCommitted(room, state.kind, events, state.members)
        }
        yield* Effect.forEach(writes, (w, i) => Deferred.succeed(w.reply, results[i]), { discard: true })
      }
      const snapshot = snapshotOf(room, state)
      for (const env of batch) if (env._tag === "Snapshot") yield* Deferred.succeed(env.reply, snapshot)
    }
  })
