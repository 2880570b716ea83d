/**
 * The group committer's linger (storage/sql/groupCommit.ts), on a virtual clock: while
 * batches arrive more often than once per linger, a group waits up to the linger for more
 * rooms; at a light load a batch goes at the end of its turn; a full group goes at once.
 * The committing itself is tested against PostgreSQL and PGlite in
 * tests/contract/groupCommit.test.ts; here the commit is a function that records groups.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { makeGroupCommitter } from "../../storage/sql/groupCommit.ts"

const LINGER = 5

interface Item {
  readonly room: string
}

const setUp = (options: { lingerMs: number; maxRooms?: number; concurrency?: number }) => {
  const groups: Array<Array<string>> = []
  const committer = makeGroupCommitter<Item, string>(
    async (items) => {
      groups.push(items.map((i) => i.room))
      return items.map((i) => `ok ${i.room}`)
    },
    (i) => i.room,
    { concurrency: options.concurrency ?? 1, maxRooms: options.maxRooms ?? 256, lingerMs: options.lingerMs }
  )
  /** Submits a batch; answers when (virtual ms) it was answered, read after the fact. */
  const submit = (room: string) => {
    const answer = { at: undefined as number | undefined, value: undefined as string | undefined, submittedAt: performance.now() }
    committer.submit(
      { room },
      (v) => {
        answer.at = performance.now()
        answer.value = v
      },
      (e) => {
        throw e
      }
    )
    return answer
  }
  return { groups, submit }
}

/** One batch per ms (a busy node): the moving average falls below the linger. */
const steady = async (submit: (room: string) => unknown, n: number, prefix: string) => {
  for (let i = 0; i < n; i++) {
    submit(`${prefix}${i}`)
    await vi.advanceTimersByTimeAsync(1)
  }
}

describe("group commit linger", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "performance"] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("at a light load a batch goes at the end of its turn, without waiting", async () => {
    const { groups, submit } = setUp({ lingerMs: LINGER })
    const a = submit("a")
    await vi.advanceTimersByTimeAsync(0)
    expect(a.value).toBe("ok a")
    expect(a.at).toBe(a.submittedAt)
    // One batch every 3 lingers: each still goes alone and at once.
    for (const room of ["b", "c", "d"]) {
      await vi.advanceTimersByTimeAsync(3 * LINGER)
      const x = submit(room)
      await vi.advanceTimersByTimeAsync(0)
      expect(x.at).toBe(x.submittedAt)
    }
    expect(groups).toEqual([["a"], ["b"], ["c"], ["d"]])
  })

  it("under steady load batches of later turns join the group, none waits longer than the linger", async () => {
    const { groups, submit } = setUp({ lingerMs: LINGER })
    await steady(submit, 40, "warm")
    groups.length = 0
    const answers = []
    for (let i = 0; i < 40; i++) {
      answers.push(submit(`r${i}`))
      await vi.advanceTimersByTimeAsync(1)
    }
    await vi.advanceTimersByTimeAsync(2 * LINGER)
    for (const a of answers) {
      expect(a.value).toMatch(/^ok r/)
      expect(a.at! - a.submittedAt).toBeLessThanOrEqual(LINGER + 1)
    }
    // 40 batches one ms apart in groups of about a linger's worth, not 40 groups of one.
    expect(groups.flat().filter((r) => r.startsWith("r"))).toHaveLength(40)
    expect(groups.length).toBeLessThanOrEqual(40 / (LINGER - 1) + 1)
    expect(Math.max(...groups.map((g) => g.length))).toBeGreaterThan(1)
  })

  it("a full group goes at once, lingering or not", async () => {
    const { groups, submit } = setUp({ lingerMs: LINGER, maxRooms: 4 })
    await steady(submit, 40, "warm")
    await vi.advanceTimersByTimeAsync(2 * LINGER)
    groups.length = 0
    const four = ["w", "x", "y", "z"].map(submit)
    await vi.advanceTimersByTimeAsync(0)
    for (const a of four) expect(a.at).toBe(a.submittedAt)
    expect(groups).toEqual([["w", "x", "y", "z"]])
  })

  it("linger 0 keeps the turn-by-turn grouping", async () => {
    const { groups, submit } = setUp({ lingerMs: 0 })
    await steady(submit, 5, "r")
    expect(groups).toEqual([["r0"], ["r1"], ["r2"], ["r3"], ["r4"]])
  })

  it("two batches of one room never share a group, also when lingering", async () => {
    const { groups, submit } = setUp({ lingerMs: LINGER })
    await steady(submit, 40, "warm")
    await vi.advanceTimersByTimeAsync(2 * LINGER)
    groups.length = 0
    const first = submit("same")
    await vi.advanceTimersByTimeAsync(1)
    const second = submit("same")
    await vi.advanceTimersByTimeAsync(4 * LINGER)
    expect(first.value).toBe("ok same")
    expect(second.value).toBe("ok same")
    expect(groups).toEqual([["same"], ["same"]])
  })
})
