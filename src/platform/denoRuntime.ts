/**
 * Runs a Deno entry point's program, the counterpart of NodeRuntime.runMain: SIGINT or
 * SIGTERM interrupts the main fiber, so its scope closes and the finalizers (the server's
 * graceful shutdown) run before the process exits.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import { logFailure } from "../startup/StartupError.ts"

const signals: ReadonlyArray<Deno.Signal> = ["SIGINT", "SIGTERM"]

export const runMain = async <E>(program: Effect.Effect<void, E>, what = "start-up failed"): Promise<never> => {
  const fiber = Effect.runFork(program)
  const interrupt = () => void Effect.runFork(Fiber.interrupt(fiber))
  for (const signal of signals) Deno.addSignalListener(signal, interrupt)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  for (const signal of signals) Deno.removeSignalListener(signal, interrupt)
  // An interruption is the requested shutdown, not a failure (as on Node).
  if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
    // One line naming the dependency or setting and the cause, as on Node.
    await Effect.runPromise(logFailure(exit.cause, what))
    Deno.exit(1)
  }
  // Open sockets, timers or signal listeners of libraries would keep Deno alive.
  Deno.exit(Deno.exitCode)
}
