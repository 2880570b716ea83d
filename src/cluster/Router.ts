/**
 * Routing in clustered mode: the RoomRegistry the chat service sees. A command for a room
 * whose shard this node owns goes to the local actor; any other goes over NATS
 * request/reply to the shard's command subject, where only the owner listens.
 *
 * During a hand-over nobody may answer (no responders), or the old owner answers
 * not_owner: the router retries with backoff until the command deadline. Writes carry
 * their clientMsgId, so a retry of a write that did commit returns the first ack.
 *
 * A request that got no reply (NATS request timeout, or the connection dropped while it was
 * out) may have reached the owner and committed: its outcome is unknown. It is retried like
 * the others while the deadline allows (the clientMsgId makes that safe), and if no attempt
 * is answered in the end, a write is answered `timeout` (retry with the same clientMsgId),
 * not `unavailable`, which promises "not stored". Only "no responders" says the request
 * surely reached nobody.
 *
 * Every fiber the router starts (a forwarded request awaited later, the owner's handler of
 * one incoming command) lives in a FiberSet of a scope: none outlives the router's layer or
 * the shard's subscription.
 */
import { Context, Deferred, Duration, Effect, Either, FiberSet, Layer, Schedule, type Scope } from "effect"
import * as M from "../metrics/metrics.ts"
import { ErrorCode, type NatsConnection, type Msg } from "nats"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import { RoomRegistryTag, type RoomRegistry } from "../../actors/RoomRegistry.ts"
import { ShardLeasesTag, type ShardLeases } from "./ShardLeases.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { Reply } from "../../actors/Mailbox.ts"
import { notOwner, Timeout, Unavailable, type ChatError } from "../../core/errors.ts"
import type { RoomId } from "../../core/model.ts"
import { attempt, Nats, type ClusterError } from "./Nats.ts"
import { shardOf } from "./ShardMap.ts"
import type { Subjects } from "./subjects.ts"
import * as Wire from "./wire.ts"

export interface RouterOptions {
  readonly shardCount: number
  readonly commandTimeoutMs: number
  /** While NATS is down: the error to answer at once instead of retrying until the deadline. */
  readonly natsDown?: () => Unavailable | undefined
  readonly subjects: Subjects
}

// Made once: the tagged counters of the two outcomes.
const forwardOk = M.labelled(M.forwardedCommands, { outcome: "ok" })
const forwardError = M.labelled(M.forwardedCommands, { outcome: "error" })

const isRetryable = (e: ChatError | Unanswered) => e._tag === "Unanswered" || e._tag === "NotOwner"

/** A forwarded command that got no reply: it may have been delivered (and a write committed). */
class Unanswered {
  readonly _tag = "Unanswered"
}
const unanswered = new Unanswered()

const ownerDidNotReply = new Timeout({
  message: "the node that owns the room did not reply in time; the write may or may not be stored; retry with the same clientMsgId"
})

export interface Router extends RoomRegistry {
  /** The owner's side: answer one shard's commands while the scope lives. */
  readonly serveShard: (shard: number) => Effect.Effect<void, ClusterError, Scope.Scope>
}

export class RouterTag extends Context.Tag("chat/Router")<RouterTag, Router>() {}

/** Starts a forwarded request's fiber in the router's FiberSet (interrupted when the router's scope closes). */
export type RunRequest = (effect: Effect.Effect<void>) => unknown

/** The first retry of a plain write waits like the first step of `route`'s schedule. */
const retryFirstDelayMs = 25
const retryFirstDelay = Duration.millis(retryFirstDelayMs)

const shuttingDown = new Unavailable({ message: "this node is shutting down; retry (same clientMsgId is safe)" })

export const makeRouter = (
  nc: NatsConnection,
  local: RoomRegistry,
  shards: Pick<ShardLeases, "owns">,
  o: RouterOptions,
  runRequest: RunRequest
): Router => {
  /** One request to whoever serves the shard now; not_owner and "nobody" are retryable. */
  const remoteOnce = (room: RoomId, command: Wire.Command, timeoutMs: number) =>
    Effect.flatMap(
      Effect.either(
        attempt("request", () =>
          nc.request(o.subjects.shardCommands(shardOf(room, o.shardCount)), Wire.encodeCommand(command), {
            timeout: Math.max(50, timeoutMs)
          })
        )
      ),
      (reply): Effect.Effect<OpResult | RoomSnapshot, ChatError | Unanswered> => {
        // No responders (hand-over gap): delivered to nobody, retried like not_owner. Any other
        // failure (the request timed out, the connection dropped) leaves the outcome unknown.
        if (Either.isLeft(reply)) {
          return Effect.fail((reply.left.cause as { code?: unknown })?.code === ErrorCode.NoResponders ? notOwner(room) : unanswered)
        }
        return Either.match(Wire.decodeReply(reply.right.string()), { onLeft: Effect.fail, onRight: Effect.succeed })
      }
    )

  /** The answer once retrying has stopped: whether a write may have been stored decides it. */
  const gaveUp = (writeUnsure: boolean): ChatError =>
    writeUnsure
      ? ownerDidNotReply
      : (o.natsDown?.() ?? new Unavailable({ message: "room is moving between nodes; retry (same clientMsgId is safe)" }))

  /**
   * Local when this node owns the room, else remote; retried across hand-overs. `unsure`:
   * an earlier attempt of the same command (on the plain path) went out and got no reply.
   */
  const route = <A>(
    room: RoomId,
    viaLocal: Effect.Effect<A, ChatError>,
    command: Wire.Command,
    deadline: number,
    unsureBefore = false
  ): Effect.Effect<A, ChatError> =>
    Effect.suspend(() => {
      // Whether some attempt went out and got no reply: then a write's outcome is unknown.
      let unsure = unsureBefore
      return Effect.suspend(() =>
        shards.owns(shardOf(room, o.shardCount))
          ? (viaLocal as Effect.Effect<A, ChatError | Unanswered>)
          : (remoteOnce(room, command, deadline - Date.now()) as Effect.Effect<A, ChatError | Unanswered>)
      ).pipe(
        Effect.tapError((e) => Effect.sync(() => void (e._tag === "Unanswered" && (unsure = true)))),
        Effect.retry({
          schedule: Schedule.exponential("25 millis").pipe(Schedule.union(Schedule.spaced("500 millis")), Schedule.jittered),
          while: (e) => isRetryable(e) && Date.now() < deadline && o.natsDown?.() === undefined
        }),
        Effect.mapError((e): ChatError => (isRetryable(e) ? gaveUp(unsure && command.k === "w") : (e as ChatError)))
      )
    })

  const write: RoomRegistry["write"] = (room, op: WriteOp) =>
    Effect.gen(function* () {
      const deadline = Date.now() + o.commandTimeoutMs
      if (shards.owns(shardOf(room, o.shardCount))) {
        // Enqueue now, preserving the caller's order; a not_owner answer is re-routed.
        const pending = yield* Effect.either(local.write(room, op))
        if (Either.isRight(pending)) {
          return pending.right.pipe(
            Effect.catchIf(isRetryable, () => route(room, Effect.flatten(local.write(room, op)), { k: "w", room, op }, deadline))
          )
        }
        if (!isRetryable(pending.left)) return yield* Effect.fail(pending.left)
      }
      // Remote while NATS is down: nothing can reach the owner; answer at once, nothing stored.
      const down = o.natsDown?.()
      if (down !== undefined) return yield* Effect.fail(down)
      // Remote: the request starts now (in the caller's order) and is awaited later.
      const reply = yield* Deferred.make<OpResult, ChatError>()
      const started = Date.now()
      runRequest(
        Deferred.complete(
          reply,
          route(room, Effect.flatten(local.write(room, op)), { k: "w", room, op }, deadline).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                forwardOk(exit._tag === "Success" ? 1 : 0)
                forwardError(exit._tag === "Success" ? 0 : 1)
                M.forwardDuration.unsafeUpdate((Date.now() - started) / 1000, [])
              })
            )
          )
        ).pipe(
          // The router is closing (node shutdown): its caller is answered, never left waiting.
          Effect.onInterrupt(() => Deferred.fail(reply, shuttingDown)),
          Effect.asVoid
        )
      )
      return Deferred.await(reply)
    })

  /**
   * The plain path of a write (no Effect, no fiber): the local actor's `submit` when this
   * node owns the room, else one NATS request answered in its promise's callback. Only
   * what is rare goes through `route` and its retries (a hand-over: not_owner or nobody
   * listening; a request without a reply), with the same deadline and the same answers.
   */
  const localSubmit = local.submit
  const submit: RoomRegistry["submit"] =
    localSubmit === undefined
      ? undefined
      : (room, op, reply) => {
          const deadline = Date.now() + o.commandTimeoutMs
          if (shards.owns(shardOf(room, o.shardCount))) {
            const refused = localSubmit(room, op, (error, result) =>
              error !== undefined && isRetryable(error) ? retrySlow(room, op, deadline, false, reply) : reply(error, result)
            )
            if (refused === undefined || !isRetryable(refused)) return refused
          }
          const down = o.natsDown?.()
          if (down !== undefined) return down
          forward(room, op, deadline, reply)
          return undefined
        }

  /** One request to the shard's subject; what is not a final answer goes on through `route`. */
  const forward = (room: RoomId, op: WriteOp, deadline: number, reply: Reply<OpResult>) => {
    const started = Date.now()
    const done: Reply<OpResult> = (error, result) => {
      forwardOk(error === undefined ? 1 : 0)
      forwardError(error === undefined ? 0 : 1)
      M.forwardDuration.unsafeUpdate((Date.now() - started) / 1000, [])
      try {
        reply(error, result)
      } catch {
        // The caller's callback threw: its bug, and inside a promise callback it would
        // become an unhandled rejection. The router goes on.
      }
    }
    let request: Promise<Msg>
    try {
      request = nc.request(o.subjects.shardCommands(shardOf(room, o.shardCount)), Wire.encodeCommand({ k: "w", room, op }), {
        timeout: Math.max(50, deadline - started)
      })
    } catch (e) {
      request = Promise.reject(e)
    }
    request.then(
      (msg) => {
        const r = Wire.decodeReply(msg.string())
        if (Either.isRight(r)) return done(undefined, r.right as OpResult)
        if (isRetryable(r.left)) return retrySlow(room, op, deadline, false, done)
        done(r.left)
      },
      // No responders (hand-over gap): delivered to nobody. Anything else: the outcome is unknown.
      (e: unknown) => retrySlow(room, op, deadline, (e as { code?: unknown })?.code !== ErrorCode.NoResponders, done)
    )
  }

  /** The rest of a plain write after a retryable answer: `route`, after a first backoff, answered through `reply` once. */
  const retrySlow = (room: RoomId, op: WriteOp, deadline: number, unsure: boolean, reply: Reply<OpResult>) => {
    // As `route`'s retries: none after the deadline, or while NATS is down.
    if (Date.now() + retryFirstDelayMs >= deadline || o.natsDown?.() !== undefined) return reply(gaveUp(unsure))
    let answered = false
    const answer: Reply<OpResult> = (error, result) => {
      if (answered) return
      answered = true
      reply(error, result)
    }
    runRequest(
      route(room, Effect.flatten(local.write(room, op)), { k: "w", room, op }, deadline, unsure).pipe(
        Effect.delay(retryFirstDelay),
        Effect.match({ onFailure: (e) => answer(e), onSuccess: (r) => answer(undefined, r) }),
        // The router is closing (node shutdown): its caller is answered, never left waiting.
        Effect.onInterrupt(() => Effect.sync(() => answer(shuttingDown)))
      )
    )
  }

  const localMembers = local.members

  const snapshot: RoomRegistry["snapshot"] = (room) =>
    route(room, local.snapshot(room), { k: "s", room }, Date.now() + o.commandTimeoutMs)

  /** A reply to a forwarded command; a connection that closed meanwhile drops it (the requester times out). */
  const respond = (msg: Msg, text: string): void => {
    try {
      msg.respond(text)
    } catch {
      // Closed connection: nothing to answer on.
    }
  }

  /** The owner's side: answer commands for one shard while the subscription's scope lives. */
  const serveShard = (shard: number) =>
    Effect.gen(function* () {
      // The handlers of commands in flight: awaited (within the command timeout) when the shard
      // is released, so a write the actor took is answered; interrupted after that.
      const handlers = yield* FiberSet.make<void>()
      const run = yield* FiberSet.runtime(handlers)<never>()
      /** A command through Effects: a snapshot, or a write where the registry has no `submit`. */
      const handle = (msg: Msg, command: Wire.Command) =>
        Effect.gen(function* () {
          if (!shards.owns(shard)) return msg.respond(Wire.encodeFailure(notOwner(command.room)))
          if (command.k === "s") {
            const s = yield* Effect.either(local.snapshot(command.room))
            return msg.respond(Either.isRight(s) ? Wire.encodeSnapshot(s.right) : Wire.encodeFailure(s.left))
          }
          const r = yield* Effect.either(Effect.flatten(local.write(command.room, command.op)))
          return msg.respond(Either.isRight(r) ? Wire.encodeResult(r.right) : Wire.encodeFailure(r.left))
        })
      // Writes answered without a fiber (the local registry's `submit`): how many are still
      // unanswered, and who waits for none to be (the finalizer below).
      let plainInFlight = 0
      let onPlainIdle: (() => void) | undefined
      const respondPlain = (msg: Msg): Reply<OpResult> => (error, result) => {
        if (--plainInFlight === 0) onPlainIdle?.()
        respond(msg, error !== undefined ? Wire.encodeFailure(error) : Wire.encodeResult(result!))
      }
      const sub = nc.subscribe(o.subjects.shardCommands(shard), {
        callback: (err, msg) => {
          if (err !== null) return
          const decoded = Wire.decodeCommand(msg.string())
          if (Either.isLeft(decoded)) return respond(msg, Wire.encodeFailure(decoded.left))
          const command = decoded.right
          if (command.k !== "w" || localSubmit === undefined) return void run(Effect.asVoid(handle(msg, command)))
          // The common command, a write, plain: checked and queued in arrival order, no fiber.
          if (!shards.owns(shard)) return respond(msg, Wire.encodeFailure(notOwner(command.room)))
          plainInFlight++
          const refused = localSubmit(command.room, command.op, respondPlain(msg))
          if (refused !== undefined) respondPlain(msg)(refused)
        }
      })
      const plainIdle = Effect.async<void>((resume) => {
        if (plainInFlight === 0) return resume(Effect.void)
        onPlainIdle = () => resume(Effect.void)
        return Effect.sync(() => void (onPlainIdle = undefined))
      })
      // The subscription is live at the server before the shard counts as served.
      yield* attempt("flush", () => nc.flush())
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => sub.drain().catch(() => undefined)).pipe(
          Effect.zipRight(
            Effect.zip(FiberSet.awaitEmpty(handlers), plainIdle, { concurrent: true }).pipe(
              Effect.timeout(o.commandTimeoutMs),
              Effect.ignore
            )
          )
        )
      )
    })

  return {
    write,
    ...(submit !== undefined ? { submit } : {}),
    // Where this node owns the room, its actor's members are the room's (as the local registry says).
    ...(localMembers !== undefined
      ? { members: (room: RoomId) => (shards.owns(shardOf(room, o.shardCount)) ? localMembers(room) : undefined) }
      : {}),
    snapshot,
    activeRooms: local.activeRooms,
    drain: local.drain,
    release: local.release,
    serveShard
  }
}


export const layer = (o: Omit<RouterOptions, "subjects">): Layer.Layer<RouterTag, never, Nats | RoomRegistryTag | ShardLeasesTag> =>
  Layer.scoped(
    RouterTag,
    Effect.gen(function* () {
      const nats = yield* Nats
      const requests = yield* FiberSet.make<void>()
      const run = yield* FiberSet.runtime(requests)<never>()
      return makeRouter(nats.nc, yield* RoomRegistryTag, yield* ShardLeasesTag, { ...o, subjects: nats.subjects }, run)
    })
  )
