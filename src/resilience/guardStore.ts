/**
 * The store behind its circuit breaker: a store call while the circuit is open fails at once
 * with StoreError (cause: the breaker's words), without touching the database; every other
 * call's StoreError counts toward opening it. Fenced and decryption errors are answers, not
 * failures of the dependency, and do not count.
 */
import { Effect } from "effect"
import { StoreError } from "../domain/errors.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { type Breaker, describeCause } from "./Breaker.ts"

export class CircuitOpen extends Error {
  override readonly name = "CircuitOpen"
}

export const withBreaker = (store: ChatStore, breaker: Breaker): ChatStore => {
  const guard = <A, E>(operation: string, call: () => Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
    Effect.suspend((): Effect.Effect<A, E | StoreError> => {
      const refused = breaker.reject()
      if (refused !== undefined) return Effect.fail(new StoreError({ operation, cause: new CircuitOpen(refused.message) }))
      return call().pipe(
        Effect.tapBoth({
          onFailure: (e) =>
            Effect.sync(() => {
              if ((e as { _tag?: string })._tag === "StoreError") breaker.failure(describeCause(e))
            }),
          onSuccess: () => Effect.sync(() => breaker.success())
        })
      )
    })
  const out: Record<string, unknown> = {}
  for (const [operation, member] of Object.entries(store)) {
    if (operation === "ping") out[operation] = member
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
