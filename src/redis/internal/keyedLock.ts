/**
 * Runs effects one at a time per key (a mutex per key, dropped when nobody holds or
 * awaits it). Presence uses it so that a node's own join and leave of the same (room,
 * user) reach Redis in the order they happened here.
 */
import { Effect } from "effect"

export type KeyedLock = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

export const makeKeyedLock = (): KeyedLock => {
  const locks = new Map<string, { readonly mutex: Effect.Semaphore; users: number }>()
  return (key, effect) =>
    Effect.suspend(() => {
      let lock = locks.get(key)
      if (lock === undefined) locks.set(key, (lock = { mutex: Effect.unsafeMakeSemaphore(1), users: 0 }))
      const held = lock
      held.users++
      return held.mutex.withPermits(1)(effect).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            if (--held.users === 0) locks.delete(key)
          })
        )
      )
    })
}
