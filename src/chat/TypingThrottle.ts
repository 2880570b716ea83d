/**
 * At most one relayed `typing` per user per room per interval: a client that sends typing
 * frame for frame (thousands a second) would otherwise make every other member's socket
 * carry them all. The rest are dropped silently: typing is a hint with no ack, and the
 * next one after the interval is relayed.
 *
 * Per node: a user's sockets on other nodes are throttled there (at most one relay per
 * node per interval). Memory is bounded: past `maxEntries` keys, entries older than the
 * interval are swept (they throttle nothing any more), and if every key is fresh the map is
 * cleared (a burst of that many distinct typers then gets one extra relay each).
 */
export interface TypingThrottle {
  /** True when a typing of `user` in `room` at `nowMs` is to be relayed. */
  readonly admit: (user: string, room: string, nowMs: number) => boolean
}

export const makeTypingThrottle = (intervalMs: number, maxEntries = 100_000): TypingThrottle => {
  const last = new Map<string, number>()
  return {
    admit: (user, room, nowMs) => {
      if (intervalMs <= 0) return true
      const key = `${room}\u0000${user}`
      const previous = last.get(key)
      if (previous !== undefined && nowMs - previous < intervalMs) return false
      if (previous === undefined && last.size >= maxEntries) {
        for (const [k, t] of last) if (nowMs - t >= intervalMs) last.delete(k)
        if (last.size >= maxEntries) last.clear()
      }
      last.set(key, nowMs)
      return true
    }
  }
}
