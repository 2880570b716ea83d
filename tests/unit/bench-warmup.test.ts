/** bench/scenarios/stepped.ts warmupOf: a repeat that starts near the limit is warmed at that rate, and longer. */
import { describe, expect, it } from "vitest"
import { REPEAT_WARMUP_MS, warmupOf } from "../../bench/scenarios/stepped.ts"

const params = { warmupMs: 3000, rates: [100, 250, 500, 1000, 2000, 4000, 8000], senders: 200 }

describe("warmupOf", () => {
  it("warms a first run at its lowest rate (raised so that every sender sends) for warmupMs", () => {
    // 200 senders in 3 s: at least 67 msg/s; the lowest rate, 100, is above that.
    expect(warmupOf(params, params.rates)).toEqual({ rate: 100, ms: 3000 })
    expect(warmupOf({ ...params, senders: 600 }, params.rates)).toEqual({ rate: 200, ms: 3000 })
  })

  it("warms a repeat at the rate of its first step, for at least REPEAT_WARMUP_MS", () => {
    const coarse = [4000, 8000]
    expect(warmupOf(params, coarse)).toEqual({ rate: 4000, ms: REPEAT_WARMUP_MS })
    expect(REPEAT_WARMUP_MS).toBeGreaterThan(params.warmupMs)
    // A longer configured warm-up is kept.
    expect(warmupOf({ ...params, warmupMs: 20_000 }, coarse)).toEqual({ rate: 4000, ms: 20_000 })
  })

  it("has no warm-up when it is switched off or there is no step", () => {
    expect(warmupOf({ ...params, warmupMs: 0 }, [4000])).toBeUndefined()
    expect(warmupOf(params, [])).toBeUndefined()
  })
})
