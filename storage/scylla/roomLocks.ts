/**
 * Commits to one room from this process take turns. The claim (a lightweight transaction)
 * already makes concurrent writers safe, but writers of one room in one process would only
 * collide in Paxos and retry; queueing them here costs nothing when, as in production, one
 * actor writes each room. Entries exist only while a room has a commit running or waiting.
 */
import { Effect } from "effect"

export interface RoomLocks {
  readonly withRoom: <A, E, R>(room: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeRoomLocks = (): RoomLocks => {
  const locks = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  return {
    withRoom: (room, effect) =>
      Effect.suspend(() => {
        let entry = locks.get(room)
        if (entry === undefined) {
          entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
          locks.set(room, entry)
        }
        const held = entry
        held.users += 1
        return held.semaphore.withPermits(1)(effect).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              held.users -= 1
              if (held.users === 0) locks.delete(room)
            })
          )
        )
      })
  }
}
