/**
 * The store behind its circuit breaker: a store call while the circuit is open fails at once
 * with StoreError (cause: the breaker's words), without touching the database; every other
 * call's StoreError counts toward opening it. Fenced and decryption errors are answers, not
 * failures of the dependency, and do not count.
 *
 * Every call has a deadline (`timeoutMs`, CHAT_STORE_TIMEOUT_MS): a database that stops
 * answering (a stopped process, a network black hole) holds no caller longer than that. The
 * call fails with StoreError whose cause is StoreCallTimedOut (`outcomeUnknown`: a commit
 * that timed out may still land, so the room actor answers its batch `timeout`, not
 * `unavailable`), and the breaker is told the dependency hangs (Breaker.hung), which opens
 * the circuit as soon as a health check does not answer either. The driver's query is left
 * to finish or fail on its own; only the caller stops waiting.
 */
import { Effect, Runtime } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { type Breaker, describeCause } from "./Breaker.ts"

export class CircuitOpen extends Error {
  override readonly name = "CircuitOpen"
}

/** A store call that did not answer within its deadline: whether it took effect is unknown. */
export class StoreCallTimedOut extends Error {
  override readonly name = "StoreCallTimedOut"
  /** Read by the room actor (actors/RoomActor.ts) without importing this module. */
  readonly outcomeUnknown = true
}

/**
 * `self`, failing with `onTimeout()` when it has not answered within `ms` (wall clock); the
 * call itself is left to finish or fail on its own. Written out instead of Effect.timeoutFail,
 * which races the call and a sleep in two forked fibers: on every store call (a history
 * page, a membership read) that was about half of the call's CPU. This runs the call in one
 * fiber and the deadline as a plain timer.
 */
const withDeadline = <A, E, E2>(self: Effect.Effect<A, E>, ms: number, onTimeout: () => E2): Effect.Effect<A, E | E2> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.async<A, E | E2>((resume) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        resume(Effect.fail(onTimeout()))
      }, ms)
      const cancel = Runtime.runCallback(runtime)(self, {
        onExit: (exit) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resume(exit)
        }
      })
      // The caller was interrupted: stop waiting and stop the call.
      return Effect.sync(() => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        cancel()
      })
    })
  )

export const withBreaker = (store: ChatStore, breaker: Breaker, timeoutMs?: number): ChatStore => {
  const timedOut = (operation: string, ms: number) =>
    new StoreError({ operation, cause: new StoreCallTimedOut(`${breaker.title} did not answer within ${ms} ms`) })
  const guard = <A, E>(operation: string, call: () => Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
    Effect.suspend((): Effect.Effect<A, E | StoreError> => {
      const refused = breaker.reject()
      if (refused !== undefined) return Effect.fail(new StoreError({ operation, cause: new CircuitOpen(refused.message) }))
      const bounded: Effect.Effect<A, E | StoreError> =
        timeoutMs === undefined
          ? call()
          : withDeadline(call(), timeoutMs, () => timedOut(operation, timeoutMs))
      return bounded.pipe(
        Effect.tapBoth({
          onFailure: (e) =>
            Effect.sync(() => {
              if ((e as { _tag?: string })._tag !== "StoreError") return
              if ((e as StoreError).cause instanceof StoreCallTimedOut) breaker.hung(describeCause(e))
              else breaker.failure(describeCause(e))
            }),
          onSuccess: () => Effect.sync(() => breaker.success())
        })
      )
    })
  /**
   * A plain call (the room actor's commit, the REST history page) under the same rules,
   * without an Effect: one timer per call for the deadline instead of Effect.timeoutFail,
   * which races two fibers per call. `E` includes StoreError (refusals and timeouts are one);
   * only a StoreError counts as the database failing (a Fenced commit does not).
   */
  const guardPlain = <E extends { readonly _tag: string }, A>(
    operation: "commit" | "history",
    start: (settle: (error: E | undefined, value?: A) => void) => void,
    done: (error: E | undefined, value?: A) => void
  ): void => {
    const refused = breaker.reject()
    if (refused !== undefined) return done(new StoreError({ operation, cause: new CircuitOpen(refused.message) }) as unknown as E)
    let settled = false
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (settled) return
            settled = true
            const e = timedOut(operation, timeoutMs)
            breaker.hung(describeCause(e))
            done(e as unknown as E)
          }, timeoutMs)
    start((error, value) => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      if (error === undefined) breaker.success()
      else if (error._tag === "StoreError") breaker.failure(describeCause(error))
      done(error, value)
    })
  }
  const guardNow = (commitNow: NonNullable<ChatStore["commitNow"]>): ChatStore["commitNow"] =>
    (room, epoch, members, ops, shard, done) => guardPlain("commit", (settle) => commitNow(room, epoch, members, ops, shard, settle), done)
  /** `commitPreparedNow` under the same rules. */
  const guardPreparedNow = (commitPreparedNow: NonNullable<ChatStore["commitPreparedNow"]>): ChatStore["commitPreparedNow"] =>
    (room, epoch, members, shard, prepare, done) =>
      guardPlain("commit", (settle) => commitPreparedNow(room, epoch, members, shard, prepare, settle), done)
  /** The plain history page under the same rules. */
  const guardHistoryNow = (historyNow: NonNullable<ChatStore["historyNow"]>): ChatStore["historyNow"] =>
    (room, before, limit, done) => guardPlain("history", (settle) => historyNow(room, before, limit, settle), done)
  const out: Record<string, unknown> = {}
  for (const [operation, member] of Object.entries(store)) {
    if (operation === "ping") out[operation] = member
    else if (operation === "commitNow") out[operation] = typeof member === "function" ? guardNow(member as NonNullable<ChatStore["commitNow"]>) : member
    else if (operation === "commitPreparedNow") {
      out[operation] = typeof member === "function" ? guardPreparedNow(member as NonNullable<ChatStore["commitPreparedNow"]>) : member
    }
    else if (operation === "historyNow") {
      out[operation] = typeof member === "function" ? guardHistoryNow(member as NonNullable<ChatStore["historyNow"]>) : member
    }
    else if (typeof member === "function") {
      out[operation] = (...args: Array<unknown>) =>
        guard(operation, () => (member as (...a: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args))
    } else if (Effect.isEffect(member)) out[operation] = guard(operation, () => member as Effect.Effect<unknown, unknown>)
    else out[operation] = member
  }
  return out as unknown as ChatStore
}

/** True when a failure is the breaker refusing: the call never reached the database. */
export const isCircuitOpen = (e: unknown): boolean =>
  (e as { _tag?: string })._tag === "StoreError" && (e as StoreError).cause instanceof CircuitOpen
