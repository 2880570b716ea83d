/** bench/scenarios/stepped.ts warmupOf: the unrecorded step before a run's first. */
import { describe, expect, it } from "vitest"
import { warmupOf } from "../../bench/scenarios/stepped.ts"

const params = { warmupMs: 3000, rates: [100, 250, 500, 1000, 2000, 4000, 8000], senders: 200 }

describe("warmupOf", () => {
  it("warms a first run at its lowest rate (raised so that every sender sends) for warmupMs", () => {
    // 200 senders in 3 s: at least 67 msg/s; the lowest rate, 100, is above that.
    expect(warmupOf(params)).toEqual({ rate: 100, ms: 3000 })
    expect(warmupOf({ ...params, senders: 600 })).toEqual({ rate: 200, ms: 3000 })
  })

  it("has no warm-up when it is switched off or there is no step", () => {
    expect(warmupOf({ ...params, warmupMs: 0 })).toBeUndefined()
    expect(warmupOf({ ...params, rates: [] })).toBeUndefined()
  })
})
