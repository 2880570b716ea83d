/**
 * Supervision of one room: run incarnations of the actor until one ends normally
 * (passivated, or the room does not exist). A failed incarnation is restarted after a
 * capped exponential backoff (jittered so rooms that failed together do not retry in
 * lockstep); the backoff resets once the room has run quietly for a while.
 */
import { Effect, Schedule } from "effect"
import { runIncarnation, type ActorCell, type ActorDeps, type ActorExit } from "./RoomActor.ts"

export interface SupervisorOptions {
  /** First restart delay; doubles per consecutive failure. */
  readonly restartBaseMs: number
  readonly restartMaxMs: number
  /** Called on every restart (metrics, logs). */
  readonly onRestart: (cell: ActorCell, error: unknown) => Effect.Effect<void>
}

export const restartSchedule = (o: Pick<SupervisorOptions, "restartBaseMs" | "restartMaxMs">) =>
  Schedule.exponential(`${o.restartBaseMs} millis`).pipe(
    Schedule.union(Schedule.spaced(`${o.restartMaxMs} millis`)),
    Schedule.jittered,
    Schedule.resetAfter("30 seconds")
  )

export const supervise = (cell: ActorCell, deps: ActorDeps, options: SupervisorOptions): Effect.Effect<ActorExit> =>
  runIncarnation(cell, deps).pipe(
    Effect.tapError((crash) =>
      Effect.zipRight(
        Effect.logWarning("room actor failed; restarting").pipe(
          Effect.annotateLogs({ room: cell.room }),
          Effect.annotateLogs("cause", crash.cause.toString().slice(0, 500))
        ),
        options.onRestart(cell, crash)
      )
    ),
    Effect.retry(restartSchedule(options)),
    Effect.orDie
  )
