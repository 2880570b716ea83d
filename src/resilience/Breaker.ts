/**
 * A circuit breaker per dependency (PostgreSQL, ScyllaDB, NATS, Redis).
 *
 * closed: calls go through; `threshold` consecutive failures open it.
 * open: calls that need the dependency are refused at once (`reject()` / `guard`), so they do
 *   not queue behind a dead dependency. A probe fiber (Effect's Schedule.spaced) pings the
 *   dependency every `probeEveryMs`; while a probe runs the state is half-open; the first probe
 *   that answers closes the circuit, so the node serves again within one probe interval.
 * A dependency with its own connection signal (NATS) can be opened and closed from it directly.
 *
 * Why not a library: Effect 3 has no circuit breaker, and the well-kept ones (cockatiel,
 * opossum) wrap Promise-returning functions: every guarded store call would become a Promise
 * and a fiber, and lose interruption. The state here is three fields read synchronously on
 * the send path (per message: plain code); the only fiber is the probe, one per opening.
 */
import { Context, Effect, Runtime, Schedule, type Scope } from "effect"
import { Unavailable } from "../../core/errors.ts"
import * as M from "../metrics/metrics.ts"

export type CircuitState = "closed" | "half-open" | "open"

export interface BreakerOptions {
  /** Metric label and log field: postgres, scylla, nats, redis. */
  readonly dependency: string
  /** Said to clients and in /readyz: "PostgreSQL", "ScyllaDB", ... */
  readonly title: string
  /** Consecutive failures that open the circuit; default 3. */
  readonly threshold?: number
  /** Health probe while open; absent for breakers driven by `open`/`close` only. */
  readonly probe?: Effect.Effect<unknown, unknown>
  /** Probe interval and timeout; defaults 200 ms and 1000 ms. */
  readonly probeEveryMs?: number
  readonly probeTimeoutMs?: number
}

export interface Breaker {
  readonly dependency: string
  readonly title: string
  readonly state: () => CircuitState
  /** Why it opened, in words (for /readyz), while it is not closed. */
  readonly cause: () => string | undefined
  /** Synchronous admission for the send path: the error to answer while open, else undefined. */
  readonly reject: () => Unavailable | undefined
  /** Counts a call's outcome. */
  readonly success: () => void
  readonly failure: (cause: string) => void
  /**
   * A call that did not answer in time: counts as a failure, and (closed, with a probe) one
   * health probe runs at once; if it does not answer within the probe timeout either, the
   * dependency hangs (stopped process, black-holed network) and the circuit opens now,
   * without waiting for `threshold` more calls to hang.
   */
  readonly hung: (cause: string) => void
  /** Opens/closes from an outside signal (NATS connection status). */
  readonly open: (cause: string) => void
  readonly close: () => void
}

const stateValue: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 }

export const make = (o: BreakerOptions): Effect.Effect<Breaker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const threshold = o.threshold ?? 3
    const everyMs = o.probeEveryMs ?? 200
    const gauge = M.labelled(M.circuitState, { dependency: o.dependency })
    const rejected = M.labelled(M.circuitRejected, { dependency: o.dependency })
    let state: CircuitState = "closed"
    let failures = 0
    let cause: string | undefined
    let openedAt = 0
    gauge(0)
    const runtime = yield* Effect.runtime<never>()
    const scope = yield* Effect.scope
    const log = (message: string, level: "info" | "warning") =>
      Runtime.runFork(runtime)(
        (level === "info" ? Effect.logInfo(message) : Effect.logWarning(message)).pipe(
          Effect.annotateLogs({ dependency: o.dependency, ...(cause ? { cause } : {}) })
        )
      )
    const setState = (next: CircuitState) => {
      state = next
      gauge(stateValue[next])
    }

    let checking = false
    const probeTimeout = `${o.probeTimeoutMs ?? 1000} millis` as const
    const checkNow = (probe: Effect.Effect<unknown, unknown>, why: string) => {
      if (checking) return
      checking = true
      Runtime.runFork(runtime)(
        Effect.forkIn(
          Effect.either(Effect.timeout(probe, probeTimeout)).pipe(
            Effect.flatMap((outcome) =>
              Effect.sync(() => {
                checking = false
                if (outcome._tag === "Left") breaker.open(`${why}; a health check did not answer within ${o.probeTimeoutMs ?? 1000} ms either`)
              })
            ),
            Effect.onInterrupt(() => Effect.sync(() => void (checking = false)))
          ),
          scope
        )
      )
    }

    const probeLoop = (probe: Effect.Effect<unknown, unknown>) =>
      Effect.gen(function* () {
        yield* Effect.sleep(`${everyMs} millis`)
        setState("half-open")
        // A few tries per round: after a restart, each stale pooled connection fails once.
        const outcome = yield* Effect.either(
          Effect.timeout(Effect.retry(probe, { times: 4 }), probeTimeout)
        )
        if (outcome._tag === "Right") return true
        setState("open")
        return false
      }).pipe(
        Effect.repeat({ schedule: Schedule.forever, until: (ok) => ok || state === "closed" }),
        Effect.zipRight(Effect.sync(() => breaker.close()))
      )

    const breaker: Breaker = {
      dependency: o.dependency,
      title: o.title,
      state: () => state,
      cause: () => (state === "closed" ? undefined : cause),
      reject: () => {
        if (state === "closed") return undefined
        rejected(1)
        const waited = Date.now() - openedAt
        return new Unavailable({
          message: `${o.title} is unavailable (${cause ?? "failing"}); nothing was stored; retry in about ${Math.max(1, Math.ceil(Math.max(everyMs, 1000 - waited) / 1000))} s with the same clientMsgId`
        })
      },
      success: () => {
        failures = 0
      },
      failure: (why) => {
        failures++
        if (state !== "closed" || failures < threshold) return
        breaker.open(why)
      },
      hung: (why) => {
        breaker.failure(why)
        if (state === "closed" && o.probe) checkNow(o.probe, why)
      },
      open: (why) => {
        if (state !== "closed") return
        cause = why
        openedAt = Date.now()
        setState("open")
        log("circuit open", "warning")
        if (o.probe) Runtime.runFork(runtime)(Effect.forkIn(probeLoop(o.probe), scope))
      },
      close: () => {
        if (state === "closed") return
        failures = 0
        setState("closed")
        log("circuit closed", "info")
        cause = undefined
      }
    }
    return breaker
  })

/** The words for a store or driver failure: the operation and the driver's error, no values. */
export const describeCause = (e: unknown): string => {
  const err = e as { _tag?: string; operation?: string; cause?: unknown; message?: unknown }
  const inner = err?.cause as { code?: unknown; name?: unknown; message?: unknown } | undefined
  const detail =
    inner && typeof inner === "object"
      ? `${String(inner.code ?? inner.name ?? "Error")}: ${String(inner.message ?? "")}`
      : inner !== undefined
        ? String(inner)
        : String(err?.message ?? e)
  return `${err?.operation ? `${err.operation} failed: ` : ""}${detail}`.replace(/\s+/g, " ").slice(0, 200)
}

/** The breaker of the database that commits messages (src/store/select.ts builds it). */
export class StoreBreaker extends Context.Tag("chat/StoreBreaker")<StoreBreaker, Breaker>() {}

/** The breaker of the NATS connection, in clustered mode (src/server.ts builds it). */
export class NatsBreaker extends Context.Tag("chat/NatsBreaker")<NatsBreaker, Breaker>() {}

/** The breaker of Redis, with CHAT_REDIS_URL (src/server.ts builds it): open means degraded, never unready. */
export class RedisBreaker extends Context.Tag("chat/RedisBreaker")<RedisBreaker, Breaker>() {}
