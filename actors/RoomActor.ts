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
import { Cause, type Clock, Context, Effect, Option, Runtime } from "effect"
import { NotFound, notOwner, Timeout, Unavailable, type ChatError, type NotOwner } from "../core/errors.ts"
import type { ChatEvent, Role, RoomId, RoomKind, UserId } from "../core/model.ts"
import { CommitDefect, commitNowOf, type ChatStore } from "../storage/ChatStore.ts"
import type { OpResult, WriteOp } from "../core/ops.ts"
import type { OnCommitted } from "./AfterCommit.ts"
import { RecentSends } from "./RecentSends.ts"
import type { Envelope, Mailbox, RoomSnapshot } from "./Mailbox.ts"

/** Clustered mode: the right to commit to a room, checked before every commit. */
export interface Fence {
  readonly epoch: number
  readonly shard: number
}

/**
 * Clustered mode: this node's current fence for a room, or notOwner. Absent from the
 * context in embedded mode, where the single node owns every room.
 */
export class RoomFence extends Context.Tag("chat/RoomFence")<RoomFence, (room: RoomId) => Fence | NotOwner>() {}

export interface ActorDeps {
  readonly store: ChatStore
  /**
   * Clustered mode: this node's current right to commit to `room` (its shard lease epoch),
   * or notOwner. Absent in embedded mode, where the single node always owns every room.
   */
  readonly fence?: (room: RoomId) => Fence | NotOwner
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
  readonly mailbox: Mailbox<Envelope>
  /** Set (synchronously) when the registry must no longer offer to this mailbox. */
  closed: boolean
  /** Clock time (ms) of the actor's last start or batch: the registry nudges it to passivate after `idleMs`. */
  lastActive: number
  /**
   * The members as of the room's last commit, while an incarnation serves it (the actor's
   * own map, changed only when a commit lands); undefined before it has loaded and after it
   * stops. Read by RoomRegistry.members.
   */
  members: ReadonlyMap<UserId, Role> | undefined
}

/** Recent sends an actor answers resends of from memory (./RecentSends.ts; a few KB per active room). */
export const RECENT_KEYS = 256

export type ActorExit = "passivated" | "gone" | "fenced"

/** The empty batch, shared: never written to (each batch's lists are new arrays). */
const NONE: Array<never> = []

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

const failEnvelope = (env: Envelope, error: ChatError): void => {
  if (env._tag !== "Idle") env.reply(error)
}

const unavailable = new Unavailable({ message: "room is restarting; retry (same clientMsgId is safe)" })
const commitUnknown = new Timeout({
  message: "the database did not answer the commit in time; it may or may not be stored; retry with the same clientMsgId"
})

/** A commit that failed on its deadline (the store says `outcomeUnknown`): it may still land. */
const outcomeUnknown = (error: unknown) => (error as { cause?: { outcomeUnknown?: unknown } })?.cause?.outcomeUnknown === true

/** Answer everything still queued (used when the room is gone or the node shuts down). */
const failQueuedNow = (cell: ActorCell, error: ChatError): void => {
  cell.closed = true
  for (const env of cell.mailbox.takeAll()) failEnvelope(env, error)
}

export const failQueued = (cell: ActorCell, error: ChatError) => Effect.sync(() => failQueuedNow(cell, error))

const isNotOwner = (f: Fence | NotOwner): f is NotOwner => (f as NotOwner)._tag === "NotOwner"

/**
 * Another node owns the room now: answer not_owner to `batch` and everything queued (the
 * router retries there) and stop; restarting here would only be refused again.
 */
const lostOwnership = (cell: ActorCell, batch: ReadonlyArray<Envelope> = []): "fenced" => {
  for (const env of batch) failEnvelope(env, notOwner(cell.room))
  failQueuedNow(cell, notOwner(cell.room))
  return "fenced"
}

export const runIncarnation = (cell: ActorCell, deps: ActorDeps): Effect.Effect<ActorExit, ActorCrashed> =>
  Effect.gen(function* () {
    const { room } = cell
    const initialFence = deps.fence?.(room)
    if (initialFence !== undefined && isNotOwner(initialFence)) return lostOwnership(cell)
    if (initialFence !== undefined) {
      // Take the room over before reading it: an empty commit at our epoch. Any older
      // owner's commit then either landed before it (and is read below) or is refused.
      const claimed = yield* Effect.exit(deps.store.commit(room, initialFence.epoch, new Map(), [], initialFence.shard))
      if (claimed._tag === "Failure") {
        if (Cause.failureOption(claimed.cause).pipe(Option.exists((e) => e._tag === "Fenced"))) return lostOwnership(cell)
        const refused = deps.admit?.()
        if (refused !== undefined) {
          failQueuedNow(cell, refused)
          return "passivated" as const
        }
        return yield* Effect.fail(new ActorCrashed(room, claimed.cause))
      }
    }
    const loaded = yield* deps.store.loadRoom(room).pipe(
      Effect.catchAllCause((cause) =>
        Effect.suspend(() => {
          // A failure while the store's circuit is open: answer every queued command (none
          // was taken: nothing of theirs is stored) and stop; the next command after recovery
          // starts a fresh actor at once, instead of waiting out a backoff grown during the outage.
          const refused = deps.admit?.()
          if (refused === undefined) return Effect.fail(new ActorCrashed(room, cause))
          failQueuedNow(cell, refused)
          return Effect.succeed("outage" as const)
        })
      )
    )
    if (loaded === "outage") return "passivated" as const
    if (Option.isNone(loaded)) {
      failQueuedNow(cell, new NotFound({ message: "room not found" }))
      return "gone" as const
    }
    const head = loaded.value
    const state: State = {
      kind: head.room.kind,
      name: head.room.name,
      createdAt: head.room.createdAt,
      lastSeq: head.room.lastSeq,
      epoch: initialFence !== undefined ? Math.max(initialFence.epoch, 0) : head.epoch,
      members: new Map(head.members)
    }
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    return yield* serve(cell, deps, state, runtime, clock)
  })

/**
 * The actor's loop after rehydration, as plain code inside one Effect.async: the incarnation
 * stays a supervised fiber (it ends with the loop's exit, and interrupting it stops the
 * loop), but a batch costs no Effect of its own. Waiting is a mailbox callback, the commit
 * is the store's `commitNow` (or its `commit` run to a callback), and the batch's callers
 * are plain callbacks. A commit that answers synchronously continues the loop in place
 * (no recursion), so a busy room cannot grow the stack.
 */
const serve = (
  cell: ActorCell,
  deps: ActorDeps,
  state: State,
  runtime: Runtime.Runtime<never>,
  clock: Clock.Clock
): Effect.Effect<ActorExit, ActorCrashed> =>
  Effect.async<ActorExit, ActorCrashed>((resume) => {
    const { room, mailbox } = cell
    const commitNow = commitNowOf(deps.store, runtime)
    const runEffect = Runtime.runCallback(runtime)
    /** Acks of this incarnation's latest sends. */
    const recent = new RecentSends(RECENT_KEYS)
    let stopped = false
    const stop = (exit: Effect.Effect<ActorExit, ActorCrashed>) => {
      if (stopped) return
      stopped = true
      cell.members = undefined
      mailbox.cancelWait()
      resume(exit)
    }
    /** Our own code threw: answer what the batch still holds, and restart like a failed commit. */
    const crash = (batch: ReadonlyArray<Envelope>, defect: unknown) => {
      for (const env of batch) failEnvelope(env, unavailable)
      stop(Effect.fail(new ActorCrashed(room, Cause.die(defect))))
    }

    // The batch in flight: its envelopes, its writes, their results so far, and which
    // writes went to the store (`committing`, by index into `writes`) as `ops`.
    let batch: Array<Envelope> = []
    let writes: Array<Extract<Envelope, { _tag: "Write" }>> = []
    let results: Array<OpResult | undefined> = []
    let ops: Array<WriteOp> = []
    let committing: Array<number> = []

    /** Answers the batch's callers: writes in order, then snapshots (after the writes they follow). */
    const answer = () => {
      for (let i = 0; i < writes.length; i++) writes[i]!.reply(undefined, results[i])
      let snapshot: RoomSnapshot | undefined
      for (const env of batch) if (env._tag === "Snapshot") env.reply(undefined, (snapshot ??= snapshotOf(room, state)))
      // Let go of the answered batch now, not when the room's next batch comes: a quiet room
      // would otherwise keep its last envelopes, ops and results (and what their callbacks
      // hold) alive long enough to be promoted to the old generation.
      batch = writes = NONE
      results = NONE
      ops = NONE
      committing = NONE
    }

    /**
     * The commit's outcome: true when the loop goes on now, false when it ended or goes on
     * after asynchronous after-commit work.
     */
    const committed = (error: unknown, out: ReadonlyArray<OpResult> | undefined): boolean => {
      if (error !== undefined) {
        if ((error as { _tag?: unknown })._tag === "Fenced") {
          stop(Effect.succeed(lostOwnership(cell, batch)))
          return false
        }
        const reply = outcomeUnknown(error) ? commitUnknown : unavailable
        for (const env of batch) failEnvelope(env, env._tag === "Write" ? reply : unavailable)
        const refused = deps.admit?.()
        if (refused !== undefined) {
          failQueuedNow(cell, refused)
          stop(Effect.succeed("passivated"))
          return false
        }
        const cause = error instanceof CommitDefect ? error.cause : Cause.fail(error)
        stop(Effect.fail(new ActorCrashed(room, cause)))
        return false
      }
      const events: Array<ChatEvent> = []
      for (let j = 0; j < committing.length; j++) {
        const r = out![j]!
        results[committing[j]!] = r
        if (r._tag === "Committed") for (const e of r.events) events.push(e)
        const op = ops[j]!
        if (op._tag === "Send" && r._tag !== "Rejected") recent.remember(op.actor, op.clientMsgId, r.ack)
      }
      if (events.length > 0) {
        applyEvents(state, events)
        const more = deps.onCommitted(room, state.kind, events, state.members)
        if (more !== undefined) {
          // Rare (a membership change with a shared cache to drop): the callers are answered
          // once it is done, as on the plain path.
          const held = batch
          runEffect(more, {
            onExit: (exit) => {
              if (stopped) return
              if (exit._tag === "Failure") return crash(held, Cause.squash(exit.cause))
              try {
                answer()
              } catch (defect) {
                return crash(held, defect)
              }
              loop()
            }
          })
          return false
        }
      }
      answer()
      return true
    }

    /** Runs batches until one waits on I/O (its callback resumes here) or the actor stops. */
    const loop = (): void => {
      try {
        while (!stopped) {
          if (mailbox.size === 0) {
            // A shut mailbox (drain, hand-over) ends the incarnation between batches, after
            // what it took has been answered.
            if (mailbox.isShutdown) return stop(Effect.succeed("passivated"))
            return mailbox.wait((open) => (open ? loop() : stop(Effect.succeed("passivated"))))
          }
          // One synchronous step: a write is either taken here or withdrawn by its caller's deadline.
          const taken = mailbox.takeUpTo(deps.maxBatch)
          let plain = true
          for (const e of taken) {
            if (e._tag !== "Write" || e.status === "withdrawn") {
              plain = false
              break
            }
          }
          if (plain) {
            // The common batch, live writes only: it is its own list of writes (no copies).
            for (const e of taken as Array<Extract<Envelope, { _tag: "Write" }>>) e.status = "taken"
            batch = taken
            writes = taken as Array<Extract<Envelope, { _tag: "Write" }>>
          } else {
            batch = []
            writes = []
            for (const e of taken) {
              if (e._tag === "Idle") continue
              if (e._tag === "Write") {
                if (e.status === "withdrawn") continue
                e.status = "taken"
                writes.push(e)
              }
              batch.push(e)
            }
          }
          if (batch.length === 0) {
            // Only the registry's idle nudge: passivate if nothing arrived since. The check and
            // the close are one synchronous step, and the registry offers synchronously too, so
            // no command can slip between.
            if (mailbox.size > 0) continue
            cell.closed = true
            return stop(Effect.succeed("passivated"))
          }
          cell.lastActive = clock.unsafeCurrentTimeMillis()
          // A resend of a recent send is answered from memory (its first ack), without a commit:
          // the common retry costs no round trip, and never meets the unique key in the store.
          // Membership first, as plan() rules: a former member's resend goes to the store.
          results = new Array(writes.length)
          // Sized for the common batch (no resend): each list is allocated once, at its size.
          ops = new Array(writes.length)
          committing = new Array(writes.length)
          let count = 0
          for (let i = 0; i < writes.length; i++) {
            const op = writes[i]!.op
            const ack = op._tag === "Send" && state.members.has(op.actor) ? recent.get(op.actor, op.clientMsgId) : undefined
            if (ack !== undefined) results[i] = { _tag: "Duplicate", ack }
            else {
              ops[count] = op
              committing[count++] = i
            }
          }
          if (count < writes.length) {
            ops.length = count
            committing.length = count
          }
          if (ops.length === 0) {
            answer()
            continue
          }
          // Self-fencing: re-checked right before every commit, so a node whose lease has
          // lapsed (paused, partitioned) stops writing on its own, before the store has to refuse.
          const fence = deps.fence?.(room)
          if (fence !== undefined && isNotOwner(fence)) return stop(Effect.succeed(lostOwnership(cell, batch)))
          if (fence !== undefined) state.epoch = fence.epoch
          // Answered now (a synchronous store): go on in this loop. Answered later: resume it.
          let inLoop = true
          let now: { error: unknown; out: ReadonlyArray<OpResult> | undefined } | undefined
          const held = batch
          commitNow(room, state.epoch, state.members, ops, fence?.shard, (error, out) => {
            if (inLoop) {
              now = { error, out }
              return
            }
            if (stopped) {
              // Interrupted while the commit was in flight: its callers still get its outcome.
              try {
                committed(error, out)
              } catch {
                // Nothing more can be done for an interrupted actor.
              }
              return
            }
            try {
              if (committed(error, out)) loop()
            } catch (defect) {
              crash(held, defect)
            }
          })
          inLoop = false
          if (now === undefined) return
          if (!committed(now.error, now.out)) return
        }
      } catch (defect) {
        crash(batch, defect)
      }
    }

    cell.lastActive = clock.unsafeCurrentTimeMillis()
    cell.members = state.members
    loop()
    return Effect.sync(() => {
      stopped = true
      cell.members = undefined
      mailbox.cancelWait()
    })
  })
