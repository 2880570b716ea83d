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

  it.live("breaker - the plain calls (commitNow, commitPreparedNow, historyNow) time out alike, and are refused without preparing while open", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const breaker = yield* Breaker.make({ dependency: "postgres", title: "PostgreSQL", probe: Effect.never, probeTimeoutMs: 100 })
        let prepared = 0
        // A store whose plain commits never answer, as a stopped database would.
        const store = withBreaker(
          {
            ...makeMemoryStore(),
            commitNow: () => undefined,
            commitPreparedNow: (_r, _e, _m, _s, prepare) => void (prepared += 1, prepare()),
            historyNow: () => undefined
          },
          breaker,
          50
        )
        // The error a plain call answers with (any callback: only its first argument is read).
        const answer = (f: (done: (error: unknown) => void) => void) =>
          Effect.async<unknown>((resume) => f((error) => resume(Effect.succeed(error))))
        const members = new Map()
        const viaNow = yield* answer((done) => store.commitNow!("r" as never, 0, members, [], undefined, done))
        const viaPrepared = yield* answer((done) => store.commitPreparedNow!("r" as never, 0, members, undefined, () => [], done))
        const viaHistory = yield* answer((done) => store.historyNow!("r" as never, undefined, 50, done))
        for (const error of [viaNow, viaPrepared, viaHistory]) expect((error as StoreError).cause).toBeInstanceOf(StoreCallTimedOut)
        expect((viaHistory as StoreError).operation).toBe("history")
        expect(prepared).toBe(1)
        yield* Effect.promise(() => waitFor("the circuit to open", () => breaker.state() !== "closed", { timeoutMs: 2_000, intervalMs: 10 }))
        const refused = yield* answer((done) => store.commitPreparedNow!("r" as never, 0, members, undefined, () => [], done))
        expect(isCircuitOpen(refused)).toBe(true)
        expect(prepared).toBe(1)
      })
    )
  )
})
