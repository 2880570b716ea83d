/**
 * Room id -> running actor. Starts an actor on the first command for a room, forgets it
 * when it passivates, and supervises it (./RoomSupervisor.ts) while it runs.
 *
 * The hot path (an actor already running) is one synchronous lookup and offer, so the
 * order in which one caller enqueues commands is the order the actor sees them.
 */
import { Clock, Context, Deferred, Duration, Effect, Exit, Fiber, FiberSet, Layer, Option, Queue, Scope } from "effect"
import { MailboxFull, notOwner, Timeout, Unavailable, type ChatError } from "../core/errors.ts"
import type { RoomId } from "../core/model.ts"
import type { OpResult, WriteOp } from "../core/ops.ts"
import type { Envelope, RoomSnapshot } from "./Mailbox.ts"
import { ChatStoreTag } from "../storage/ChatStore.ts"
import { AfterCommitTag } from "./AfterCommit.ts"
import { failQueued, RoomFence, type ActorCell, type ActorDeps } from "./RoomActor.ts"
import { supervise, type SupervisorOptions } from "./RoomSupervisor.ts"

export interface RoomRegistry {
  /** Enqueue a write; the returned effect awaits its outcome (commit, duplicate or rejection). */
  readonly write: (room: RoomId, op: WriteOp) => Effect.Effect<Effect.Effect<OpResult, ChatError>, ChatError>
  readonly snapshot: (room: RoomId) => Effect.Effect<RoomSnapshot, ChatError>
  readonly activeRooms: Effect.Effect<number>
  /** Stop accepting commands, let actors commit what they hold, answer the rest unavailable. */
  readonly drain: Effect.Effect<void>
  /**
   * Hand-over: stop the actors of the rooms `moving` selects after the batch each holds;
   * what they still have queued is answered not_owner, for the router to retry on the
   * new owner. Other rooms are not affected.
   */
  readonly release: (moving: (room: RoomId) => boolean) => Effect.Effect<void>
}

export class RoomRegistryTag extends Context.Tag("chat/RoomRegistry")<RoomRegistryTag, RoomRegistry>() {}

export interface RegistryOptions extends SupervisorOptions {
  readonly mailboxCapacity: number
  readonly commandTimeoutMs: number
}

export const make = (deps: ActorDeps, options: RegistryOptions): Effect.Effect<RoomRegistry, never, Scope.Scope> =>
  Effect.gen(function* () {
    const cells = new Map<RoomId, ActorCell>()
    const fibers = yield* FiberSet.make()
    const actorFibers = new WeakMap<ActorCell, Fiber.RuntimeFiber<unknown, unknown>>()
    const starting = yield* Effect.makeSemaphore(1)
    let draining = false

    const start = (room: RoomId) =>
      starting.withPermits(1)(
        Effect.gen(function* () {
          const existing = cells.get(room)
          if (existing !== undefined && !existing.closed) return existing
          const mailbox = yield* Queue.dropping<Envelope>(options.mailboxCapacity)
          const cell: ActorCell = { room, mailbox, closed: false, lastActive: yield* Clock.currentTimeMillis }
          cells.set(room, cell)
          const fiber = yield* supervise(cell, deps, options).pipe(
            Effect.ensuring(Effect.sync(() => cells.get(room) === cell && cells.delete(room))),
            FiberSet.run(fibers)
          )
          actorFibers.set(cell, fiber)
          return cell
        })
      )

    const offer = (room: RoomId, envelope: Envelope): Effect.Effect<void, ChatError> =>
      Effect.suspend((): Effect.Effect<void, ChatError> => {
        if (draining) return Effect.fail(new Unavailable({ message: "node is shutting down; reconnect and retry" }))
        const cell = cells.get(room)
        if (cell !== undefined && !cell.closed) {
          return cell.mailbox.unsafeOffer(envelope) ? Effect.void : Effect.fail(full(room))
        }
        return Effect.flatMap(start(room), (c) =>
          c.mailbox.unsafeOffer(envelope) ? Effect.void : Effect.fail(full(room))
        )
      })

    // Callers waiting for an answer, in insertion order, which is deadline order (one
    // timeout for all). Checked by the housekeeping loop below instead of a timeout per
    // command: Effect.timeoutFail races two fibers, ~85 µs per command on this machine.
    const waiting = new Set<{
      readonly reply: Deferred.Deferred<any, ChatError>
      readonly deadline: number
      readonly envelope: Envelope | undefined
    }>()
    // A write the actor has not taken is withdrawn (it will never be stored): `unavailable`.
    // One it has taken is in a commit that has not answered: its outcome is unknown, `timeout`.
    const withdrawn = new Unavailable({ message: "room did not take the command in time; nothing was stored; retry (same clientMsgId is safe)" })
    const timedOut = new Timeout({ message: "the commit did not answer in time; it may or may not be stored; retry with the same clientMsgId" })
    const snapshotTimedOut = new Unavailable({ message: "room did not answer in time; retry" })
    const awaitReply = <A>(reply: Deferred.Deferred<A, ChatError>, envelope?: Envelope) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = { reply, deadline: now + options.commandTimeoutMs, envelope }
        waiting.add(entry)
        return Effect.ensuring(Deferred.await(reply), Effect.sync(() => waiting.delete(entry)))
      })

    // A waiting taker makes a queue's size negative: "empty" is size <= 0.
    const mailboxEmpty = (cell: ActorCell) => Option.getOrElse(cell.mailbox.unsafeSize(), () => 0) <= 0

    /** Fails overdue waits, and nudges actors idle for `idleMs` to passivate. */
    const housekeeping = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        for (const entry of waiting) {
          if (entry.deadline > now) break
          waiting.delete(entry)
          const env = entry.envelope
          if (env?._tag === "Write") {
            if (env.status === "taken") Deferred.unsafeDone(entry.reply, Exit.fail(timedOut))
            else {
              env.status = "withdrawn"
              Deferred.unsafeDone(entry.reply, Exit.fail(withdrawn))
            }
          } else Deferred.unsafeDone(entry.reply, Exit.fail(snapshotTimedOut))
        }
        for (const cell of cells.values()) {
          if (!cell.closed && now - cell.lastActive >= deps.idleMs && mailboxEmpty(cell)) {
            cell.mailbox.unsafeOffer({ _tag: "Idle" })
          }
        }
      })
    )
    // Timeouts fire up to one tick late; the tick is small against both durations.
    const tickMs = Math.max(5, Math.min(250, Math.floor(deps.idleMs / 4), Math.floor(options.commandTimeoutMs / 4)))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(tickMs)), housekeeping)))

    const registry: RoomRegistry = {
      write: (room, op) =>
        Effect.gen(function* () {
          const refused = deps.admit?.()
          if (refused !== undefined) return yield* Effect.fail(refused)
          const reply = yield* Deferred.make<OpResult, ChatError>()
          const envelope: Envelope = { _tag: "Write", op, reply }
          yield* offer(room, envelope)
          return awaitReply(reply, envelope)
        }),
      snapshot: (room) =>
        Effect.gen(function* () {
          const refused = deps.admit?.()
          if (refused !== undefined) return yield* Effect.fail(refused)
          const reply = yield* Deferred.make<RoomSnapshot, ChatError>()
          yield* offer(room, { _tag: "Snapshot", reply })
          return yield* awaitReply(reply)
        }),
      activeRooms: Effect.sync(() => cells.size),
      release: (moving) =>
        Effect.gen(function* () {
          const cellsMoving = [...cells.values()].filter((c) => moving(c.room))
          yield* Effect.forEach(
            cellsMoving,
            (cell) =>
              Effect.gen(function* () {
                yield* failQueued(cell, notOwner(cell.room))
                // The actor finishes the batch it holds, then its next take is interrupted.
                yield* Queue.shutdown(cell.mailbox)
                const fiber = actorFibers.get(cell)
                if (fiber !== undefined) yield* Fiber.await(fiber)
              }),
            { concurrency: "unbounded", discard: true }
          )
        }),
      drain: Effect.gen(function* () {
        draining = true
        // Each actor finishes the batch it holds; what is still queued is answered
        // `unavailable` so that clients retry on another node with the same clientMsgId.
        // A shut-down mailbox interrupts the actor at its next take, i.e. between batches.
        yield* Effect.forEach(
          [...cells.values()],
          (cell) =>
            Effect.zipRight(
              failQueued(cell, new Unavailable({ message: "node is shutting down; reconnect and retry" })),
              Queue.shutdown(cell.mailbox)
            ),
          { discard: true }
        )
        yield* FiberSet.awaitEmpty(fibers).pipe(Effect.timeoutOption(Duration.millis(options.commandTimeoutMs)))
      })
    }
    return registry
  })

const full = (room: RoomId) => new MailboxFull({ message: "room is overloaded (MailboxFull); retry later", room })

/**
 * Admission before a write is queued: the error to answer at once (the store's circuit is
 * open), else undefined. Optional: without it every write is admitted.
 */
export class RoomAdmission extends Context.Tag("chat/RoomAdmission")<RoomAdmission, () => ChatError | undefined>() {}

/**
 * The room actors of this node over the ChatStore in context; after each commit they call
 * AfterCommit. In clustered mode a RoomFence in context gates every commit.
 */
export const layer = (
  options: RegistryOptions & { readonly maxBatch: number; readonly idleMs: number }
): Layer.Layer<RoomRegistryTag, never, ChatStoreTag | AfterCommitTag> =>
  Layer.scoped(
    RoomRegistryTag,
    Effect.gen(function* () {
      const store = yield* ChatStoreTag
      const after = yield* AfterCommitTag
      const fence = yield* Effect.serviceOption(RoomFence)
      const admission = yield* Effect.serviceOption(RoomAdmission)
      return yield* make(
        {
          store,
          maxBatch: options.maxBatch,
          idleMs: options.idleMs,
          onCommitted: after.committed,
          ...(Option.isSome(fence) ? { fence: fence.value } : {}),
          ...(Option.isSome(admission) ? { admit: admission.value } : {})
        },
        options
      )
    })
  )
