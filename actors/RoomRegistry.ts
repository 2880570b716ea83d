/**
 * Room id -> running actor. Starts an actor on the first command for a room, forgets it
 * when it passivates, and supervises it (./RoomSupervisor.ts) while it runs.
 *
 * The hot path (an actor already running) is one synchronous lookup and offer, so the
 * order in which one caller enqueues commands is the order the actor sees them.
 */
import { Context, Deferred, Duration, Effect, Exit, Fiber, FiberId, FiberSet, Layer, Option, Scope } from "effect"
import { MailboxFull, notOwner, Timeout, Unavailable, type ChatError } from "../core/errors.ts"
import type { Role, RoomId, UserId } from "../core/model.ts"
import type { OpResult, WriteOp } from "../core/ops.ts"
import { Mailbox, type Envelope, type Reply, type RoomSnapshot } from "./Mailbox.ts"
import { ChatStoreTag } from "../storage/ChatStore.ts"
import { AfterCommitTag } from "./AfterCommit.ts"
import { failQueued, RoomFence, type ActorCell, type ActorDeps } from "./RoomActor.ts"
import { supervise, type SupervisorOptions } from "./RoomSupervisor.ts"

export interface RoomRegistry {
  /** Enqueue a write; the returned effect awaits its outcome (commit, duplicate or rejection). */
  readonly write: (room: RoomId, op: WriteOp) => Effect.Effect<Effect.Effect<OpResult, ChatError>, ChatError>
  /**
   * The same without any Effect: enqueue now (synchronously, in call order) and call `reply`
   * once with the outcome; answers the error instead (and never calls `reply`) when the
   * write is refused at once. Absent where a write needs I/O before it is queued (the
   * cluster router); callers then use `write`.
   */
  readonly submit?: (room: RoomId, op: WriteOp, reply: Reply<OpResult>) => ChatError | undefined
  readonly snapshot: (room: RoomId) => Effect.Effect<RoomSnapshot, ChatError>
  /**
   * The room's members without a message to its actor, when an actor serving it here has
   * them loaded (as of its last commit: what a snapshot taken now would show, less writes
   * not yet acknowledged to anyone); undefined otherwise, and then `snapshot` answers.
   * Absent where rooms may be served elsewhere (the cluster router).
   */
  readonly members?: (room: RoomId) => ReadonlyMap<UserId, Role> | undefined
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
    // Forks synchronously into the set: starting an actor is part of a plain offer.
    const forkActor = yield* FiberSet.runtime(fibers)<never>()
    const clock = yield* Effect.clock
    const actorFibers = new WeakMap<ActorCell, Fiber.RuntimeFiber<unknown, unknown>>()
    let draining = false

    /** A new actor whose mailbox holds `first` already: a fork may run the actor's start at once. */
    const start = (room: RoomId, first: Envelope): ActorCell => {
      const cell: ActorCell = {
        room,
        mailbox: new Mailbox<Envelope>(options.mailboxCapacity),
        closed: false,
        lastActive: clock.unsafeCurrentTimeMillis(),
        members: undefined
      }
      cell.mailbox.offer(first)
      cells.set(room, cell)
      const fiber = forkActor(
        supervise(cell, deps, options).pipe(Effect.ensuring(Effect.sync(() => cells.get(room) === cell && cells.delete(room))))
      )
      actorFibers.set(cell, fiber)
      return cell
    }

    const shuttingDown = () => new Unavailable({ message: "node is shutting down; reconnect and retry" })

    /** Plain and synchronous: the error when the envelope could not be queued. */
    const offer = (room: RoomId, envelope: Envelope): ChatError | undefined => {
      if (draining) return shuttingDown()
      const cell = cells.get(room)
      if (cell === undefined || cell.closed) {
        start(room, envelope)
        return undefined
      }
      return cell.mailbox.offer(envelope) ? undefined : full(room)
    }

    // Callers waiting for an answer, in insertion order, which is deadline order (one
    // timeout for all). Checked by the housekeeping loop below instead of a timeout per
    // command: Effect.timeoutFail races two fibers, ~85 µs per command on this machine.
    interface Waiting {
      readonly deadline: number
      readonly envelope: Envelope
      /** Answers the caller once; later answers (the actor after a timeout) are dropped. */
      readonly settle: Reply<any>
    }
    const waiting = new Set<Waiting>()
    // A write the actor has not taken is withdrawn (it will never be stored): `unavailable`.
    // One it has taken is in a commit that has not answered: its outcome is unknown, `timeout`.
    const withdrawn = new Unavailable({ message: "room did not take the command in time; nothing was stored; retry (same clientMsgId is safe)" })
    const timedOut = new Timeout({ message: "the commit did not answer in time; it may or may not be stored; retry with the same clientMsgId" })
    const snapshotTimedOut = new Unavailable({ message: "room did not answer in time; retry" })

    /** An envelope whose reply reaches `reply` once, and leaves `waiting` when it does. */
    const track = <A>(reply: Reply<A>, make: (settle: Reply<A>) => Envelope): Waiting => {
      let done = false
      const entry: Waiting = {
        deadline: clock.unsafeCurrentTimeMillis() + options.commandTimeoutMs,
        envelope: undefined as unknown as Envelope,
        settle: (error, value) => {
          if (done) return
          done = true
          waiting.delete(entry)
          try {
            reply(error, value)
          } catch {
            // A caller's callback that throws is the caller's bug; the room goes on.
          }
        }
      }
      ;(entry as { envelope: Envelope }).envelope = make(entry.settle)
      return entry
    }

    const submit = <A>(room: RoomId, reply: Reply<A>, make: (settle: Reply<A>) => Envelope): ChatError | undefined => {
      const refused = deps.admit?.()
      if (refused !== undefined) return refused
      const entry = track(reply, make)
      // Listed before the offer: a new actor may answer during it.
      waiting.add(entry)
      const error = offer(room, entry.envelope)
      if (error !== undefined) waiting.delete(entry)
      return error
    }

    /** `submit` as the two-step effect of the contract: enqueue, then await. */
    const awaitable = <A>(room: RoomId, make: (settle: Reply<A>) => Envelope): Effect.Effect<Effect.Effect<A, ChatError>, ChatError> =>
      Effect.suspend(() => {
        const reply = Deferred.unsafeMake<A, ChatError>(FiberId.none)
        const error = submit<A>(
          room,
          (e, value) => Deferred.unsafeDone(reply, e !== undefined ? Exit.fail(e) : Exit.succeed(value as A)),
          make
        )
        return error !== undefined ? Effect.fail(error) : Effect.succeed(Deferred.await(reply))
      })

    const writeEnvelope = (op: WriteOp) => (settle: Reply<OpResult>): Envelope => ({ _tag: "Write", op, reply: settle })
    const snapshotEnvelope = (settle: Reply<RoomSnapshot>): Envelope => ({ _tag: "Snapshot", reply: settle })

    /** Fails overdue waits, and nudges actors idle for `idleMs` to passivate. */
    const housekeeping = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const entry of waiting) {
        if (entry.deadline > now) break
        waiting.delete(entry)
        const env = entry.envelope
        if (env._tag === "Write") {
          if (env.status === "taken") entry.settle(timedOut)
          else {
            env.status = "withdrawn"
            entry.settle(withdrawn)
          }
        } else entry.settle(snapshotTimedOut)
      }
      for (const cell of cells.values()) {
        if (!cell.closed && now - cell.lastActive >= deps.idleMs && cell.mailbox.size === 0) {
          cell.mailbox.offer({ _tag: "Idle" })
        }
      }
    })
    // Timeouts fire up to one tick late; the tick is small against both durations.
    const tickMs = Math.max(5, Math.min(250, Math.floor(deps.idleMs / 4), Math.floor(options.commandTimeoutMs / 4)))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(tickMs)), housekeeping)))

    const registry: RoomRegistry = {
      write: (room, op) => awaitable(room, writeEnvelope(op)),
      submit: (room, op, reply) => submit(room, reply, writeEnvelope(op)),
      snapshot: (room) => Effect.flatten(awaitable(room, snapshotEnvelope)),
      members: (room) => {
        const cell = cells.get(room)
        return cell === undefined || cell.closed ? undefined : cell.members
      },
      activeRooms: Effect.sync(() => cells.size),
      release: (moving) =>
        Effect.gen(function* () {
          const cellsMoving = [...cells.values()].filter((c) => moving(c.room))
          yield* Effect.forEach(
            cellsMoving,
            (cell) =>
              Effect.gen(function* () {
                yield* failQueued(cell, notOwner(cell.room))
                // The actor finishes the batch it holds, then ends at its next take.
                cell.mailbox.shutdown()
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
        // A shut mailbox ends the actor at its next take, i.e. between batches.
        yield* Effect.forEach(
          [...cells.values()],
          (cell) =>
            Effect.zipRight(
              failQueued(cell, shuttingDown()),
              Effect.sync(() => cell.mailbox.shutdown())
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
