/**
 * A minimal typed event emitter and an async-iterator bridge. Hand-written because the SDK
 * takes no runtime dependency, and EventTarget cannot type its payloads per event name.
 */

export type Listener<T> = (value: T) => void

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<any>>>()

  /** Listen to `type`; returns the function that stops listening. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type)
    if (set === undefined) this.listeners.set(type, (set = new Set()))
    set.add(listener)
    return () => void set!.delete(listener)
  }

  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    const set = this.listeners.get(type)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        listener(value)
      } catch (e) {
        // A throwing listener must not stop delivery to the others or break the client.
        queueMicrotask(() => {
          throw e
        })
      }
    }
  }
}

/**
 * An unbounded queue read as an async iterator; `subscribe` feeds it. Unbounded because
 * events are already in memory when they arrive and dropping one would break exactly-once;
 * a consumer that stops reading should break out of the loop (or abort), which unsubscribes.
 */
export const iterate = <T>(
  subscribe: (push: (value: T) => void) => () => void,
  signal?: AbortSignal
): AsyncIterableIterator<T> => {
  const buffer: T[] = []
  let wake: (() => void) | undefined
  let done = false
  const stop = subscribe((value) => {
    buffer.push(value)
    wake?.()
  })
  const finish = () => {
    done = true
    stop()
    wake?.()
  }
  signal?.addEventListener("abort", finish, { once: true })
  if (signal?.aborted) finish()
  const iterator: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      while (buffer.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
      if (buffer.length > 0) return { value: buffer.shift()!, done: false }
      return { value: undefined, done: true }
    },
    async return(): Promise<IteratorResult<T>> {
      finish()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return iterator
    }
  }
  return iterator
}
