/**
 * Event-loop delay without runtime APIs (Node's monitorEventLoopDelay has no Deno
 * equivalent): a timer due every 100 ms notes how late it fires; the metric reads the
 * largest lateness since the previous scrape. Coarse (timer resolution ~1 ms), and enough to
 * see a blocked or CPU-bound node, which is what the gauge is for.
 */
import { Effect, type Scope } from "effect"

const INTERVAL_MS = 100

export interface LoopDelayProbe {
  /** The largest delay seen since the last call, in seconds; resets it. */
  readonly takeMaxSeconds: () => number
}

export const makeLoopDelayProbe: Effect.Effect<LoopDelayProbe, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => {
      const state = { expected: Date.now() + INTERVAL_MS, maxMs: 0 }
      const timer = setInterval(() => {
        const now = Date.now()
        state.maxMs = Math.max(state.maxMs, now - state.expected)
        state.expected = now + INTERVAL_MS
      }, INTERVAL_MS)
      // The probe must not keep a process alive on its own.
      ;(timer as { unref?: () => void }).unref?.()
      return { state, timer }
    }),
    ({ timer }) => Effect.sync(() => clearInterval(timer))
  ),
  ({ state }) => ({
    takeMaxSeconds: () => {
      const ms = state.maxMs
      state.maxMs = 0
      return Math.max(0, ms) / 1000
    }
  })
)
