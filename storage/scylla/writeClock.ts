/**
 * Write timestamps (microseconds since the epoch) for the cells a store writes. They come from
 * the real clock, never from Effect's Clock: they decide which write wins in every replica
 * (last write wins), and tests run on a TestClock that starts at 1970. Monotonic per store, and
 * never below `atLeast` (the room's previous batch), so a room's batches stay ordered even when
 * two nodes' clocks disagree.
 */
export type WriteClock = (atLeast?: number) => number

export const makeWriteClock = (): WriteClock => {
  let last = 0
  return (atLeast = 0) => {
    last = Math.max(Date.now() * 1000, last + 1, atLeast)
    return last
  }
}
