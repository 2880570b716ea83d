/**
 * The one way tests wait for a condition. `waitFor` resolves as soon as `check` holds and
 * fails with `what` once `timeoutMs` has passed, so a test never sleeps a guessed time.
 *
 * - In-process state: pass a `Signal` that the code under observation fires on each change;
 *   `check` runs on each signal, never on a timer.
 * - Another process's state (a node's /readyz, Redis reconnecting on its own schedule):
 *   there is no event to await here, so `check` runs again every `intervalMs`.
 */
export class Signal {
  private readonly waiters = new Set<() => void>()
  /** Wakes every waiter to re-check its condition. */
  fire(): void {
    for (const wake of [...this.waiters]) wake()
  }
  /** Resolves on the next `fire`. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.waiters.delete(wake)
        resolve()
      }
      this.waiters.add(wake)
    })
  }
}

export interface WaitOptions {
  readonly timeoutMs?: number
  /** Re-check whenever this fires (in-process state); otherwise poll every `intervalMs`. */
  readonly on?: Signal
  readonly intervalMs?: number
  /** Shown in the timeout error: the last state seen, to explain why the wait failed. */
  readonly describe?: () => unknown
}

export const waitFor = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  options: WaitOptions = {}
): Promise<void> => {
  const { timeoutMs = 30_000, intervalMs = 100 } = options
  const deadline = Date.now() + timeoutMs
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs)
  })
  try {
    while (Date.now() < deadline) {
      const next = options.on?.next()
      if (await check()) return
      const woke = await Promise.race([
        next ?? new Promise<void>((resolve) => setTimeout(resolve, intervalMs)),
        timedOut
      ])
      if (woke === "timeout") break
    }
    if (await check()) return
    const last = options.describe ? `; last seen: ${JSON.stringify(options.describe())}` : ""
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`)
  } finally {
    clearTimeout(timer)
  }
}
