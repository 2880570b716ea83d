import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Option } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import * as Breaker from "../../src/resilience/Breaker.ts"
import { waitFor } from "../support/wait.ts"
import { isCircuitOpen, StoreCallTimedOut, withBreaker } from "../../src/resilience/guardStore.ts"

/** The memory store with `listRooms` hanging for ever, as a stopped database would. */
const hangingStore = (): ChatStore => ({ ...makeMemoryStore(), listRooms: () => Effect.never })

describe("breaker", () => {
  it.live("breaker - a store call past its deadline fails with StoreCallTimedOut, and the circuit opens when the health check hangs too", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const breaker = yield* Breaker.make({ dependency: "postgres", title: "PostgreSQL", probe: Effect.never, probeTimeoutMs: 100 })
        const store = withBreaker(hangingStore(), breaker, 50)
        const started = Date.now()
        const exit = yield* Effect.exit(store.listRooms("u" as never, undefined, 10))
        expect(Date.now() - started).toBeLessThan(1_000)
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) as StoreError | undefined : undefined
        expect(error?.cause).toBeInstanceOf(StoreCallTimedOut)
        expect((error?.cause as StoreCallTimedOut).outcomeUnknown).toBe(true)
        // One hung call is enough: the health check does not answer within 100 ms either.
        yield* Effect.promise(() => waitFor("the circuit to open", () => breaker.state() !== "closed", { timeoutMs: 2_000, intervalMs: 10 }))
        expect(breaker.cause()).toMatch(/did not answer within 50 ms.*health check did not answer within 100 ms/)
        // While open: refused at once, without touching the store.
        const refused = yield* Effect.exit(store.listRooms("u" as never, undefined, 10))
        expect(Exit.isFailure(refused) && isCircuitOpen(Option.getOrUndefined(Cause.failureOption(refused.cause)))).toBe(true)
      })
    )
  )

  it.live("breaker - a slow call whose health check answers counts once and leaves the circuit closed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const checked = yield* Deferred.make<void>()
        const breaker = yield* Breaker.make({ dependency: "postgres", title: "PostgreSQL", probe: Deferred.succeed(checked, undefined), probeTimeoutMs: 100 })
        const store = withBreaker(hangingStore(), breaker, 50)
        yield* Effect.exit(store.listRooms("u" as never, undefined, 10))
        // The health check ran and answered: only an unanswered check opens the circuit.
        yield* Deferred.await(checked)
        expect(breaker.state()).toBe("closed")
        // Other calls still go through.
        expect(Exit.isSuccess(yield* Effect.exit(store.ping))).toBe(true)
      })
    )
  )
})
