/**
 * Group commit across rooms. Each room actor already commits everything queued for its
 * room as one batch; this merges the batches of many rooms that arrive while a transaction
 * is in flight into the next transaction, so a node with a hundred busy rooms pays one
 * transaction (a few round trips and one WAL flush) per group instead of per room.
 *
 A group is committed by ./commit.ts `commitGroup`, whose statements each cover every
 * room of the group; it takes its row locks in (shard, room) order, so two groups in
 * flight cannot deadlock each other.
 *
 * A group is one transaction, so one room's statement error would roll back the others.
 * When a group fails with an error the database reported (the transaction surely rolled
 * back), each of its rooms is retried alone, so a bad batch fails only its own room. Other
 * failures (connection lost: the outcome may be unknown) fail the whole group, as a lone
 * commit would.
 *
 * Written here rather than taken from a library: it is a few dozen lines tied to this
 * store's commit function, and no SQL driver offers cross-transaction batching.
 */

/** After the I/O callbacks of this loop turn (setImmediate where the runtime has it). */
const afterIo: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0)

export interface GroupCommitOptions {
  /** Groups in flight at once (each holds one pooled connection). */
  readonly concurrency: number
  /** Most room batches in one group. */
  readonly maxRooms: number
  /**
   * How long, in ms, the oldest waiting batch may wait for others to join its group before
   * the group goes anyway (a group of `maxRooms` goes at once). 0: a group goes at the end of
   * the loop turn its first batch arrived in. At a moderate load most groups otherwise hold
   * one or two rooms, and each statement costs the node a driver round trip and a socket
   * write and the database a transaction of its own (docs/architecture.md, "Group commit").
   * Only while batches arrive more often than once per linger (a moving average of the time
   * between them): at a light load nobody would join, and a batch goes at once.
   */
  readonly lingerMs?: number
  /** Called with each group's size (rooms), for metrics and tests. */
  readonly onGroup?: (rooms: number) => void
}

interface Waiting<I, O> {
  readonly item: I
  readonly resolve: (o: O) => void
  readonly reject: (e: unknown) => void
  /** performance.now() when it was submitted (only read when lingering). */
  readonly at: number
}

/** An error the server answered with (a SQLSTATE outside connection class 08): the transaction rolled back. */
export const isStatementError = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("08")
}

/**
 * `commit` runs one group atomically per room (a transaction, or one statement) and answers one outcome per item, in order;
 * `key` names an item's room: a group holds at most one item per room.
 */
export const makeGroupCommitter = <I, O>(
  commit: (items: ReadonlyArray<I>) => Promise<ReadonlyArray<O>>,
  key: (item: I) => string,
  options: GroupCommitOptions
) => {
  const waiting: Array<Waiting<I, O>> = []
  let inFlight = 0
  let scheduled = false
  const linger = Math.max(0, options.lingerMs ?? 0)
  /** A linger timer is set: it pumps when the oldest batch has waited `linger` ms. */
  let lingering = false
  /** When the last batch was submitted, and the moving average of the time between batches (ms). */
  let lastAt = -Infinity
  let gap = Infinity
  const lingered = () => {
    lingering = false
    pump()
  }

  const runAlone = (w: Waiting<I, O>) =>
    commit([w.item]).then((out) => w.resolve(out[0]!), w.reject)

  const runGroup = async (group: Array<Waiting<I, O>>) => {
    options.onGroup?.(group.length)
    if (group.length === 1) return runAlone(group[0]!)
    let results: ReadonlyArray<O>
    try {
      results = await commit(group.map((w) => w.item))
    } catch (e) {
      if (isStatementError(e)) {
        await Promise.all(group.map(runAlone))
      } else {
        for (const w of group) w.reject(e)
      }
      return
    }
    group.forEach((w, i) => w.resolve(results[i]!))
  }

  /** Takes the next group: at most one batch per room (a second waits for the next group). */
  const take = (): Array<Waiting<I, O>> => {
    const rooms = new Set<string>()
    const group: Array<Waiting<I, O>> = []
    const rest: Array<Waiting<I, O>> = []
    for (const w of waiting) {
      const room = key(w.item)
      if (group.length < options.maxRooms && !rooms.has(room)) {
        rooms.add(room)
        group.push(w)
      } else {
        rest.push(w)
      }
    }
    waiting.splice(0, waiting.length, ...rest)
    return group
  }

  const pump = () => {
    scheduled = false
    while (inFlight < options.concurrency && waiting.length > 0) {
      if (linger > 0 && gap < linger && waiting.length < options.maxRooms) {
        const left = waiting[0]!.at + linger - performance.now()
        if (left > 0) {
          if (!lingering) {
            lingering = true
            setTimeout(lingered, left)
          }
          return
        }
      }
      const group = take()
      inFlight++
      void runGroup(group).finally(() => {
        inFlight--
        pump()
      })
    }
  }

  /** Queues `item`; exactly one of `resolve` and `reject` is called, with its outcome. */
  const submit = (item: I, resolve: (o: O) => void, reject: (e: unknown) => void): void => {
    let at = 0
    if (linger > 0) {
      at = performance.now()
      // One idle stretch counts as at most 4 lingers, so the average comes back down within
      // a few batches when load returns.
      const since = Math.min(at - lastAt, 4 * linger)
      gap = gap === Infinity ? since : gap + (since - gap) / 8
      lastAt = at
    }
    waiting.push({ item, resolve, reject, at })
    // Deferred to the end of the event loop's current poll phase: the batches of every
    // socket read in this turn of the loop form one group (one statement, one write to the
    // database socket, ~80 µs of system time here), not one group per frame.
    if (!scheduled && inFlight < options.concurrency) {
      scheduled = true
      afterIo(pump)
    }
  }
  // The Promise form for callers that await; the room actor's commit uses `submit`, and so
  // allocates no promise per batch.
  return Object.assign((item: I): Promise<O> => new Promise<O>((resolve, reject) => submit(item, resolve, reject)), { submit })
}
