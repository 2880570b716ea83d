/** The stepped scenarios' search for a server's limit (bench/scenarios/stepped.ts, searchLimit). */
import { describe, expect, it } from "vitest"
import { searchLimit, type SearchStep } from "../../bench/scenarios/stepped.ts"

interface Step extends SearchStep {
  readonly fine: boolean
}

/** A server that holds up to `limit` msg/s; the steps at `clientLimitedAt` rates find the client out of CPU. */
const server = (limit: number, clientLimitedAt: (rate: number) => boolean = () => false) => {
  const ran: Array<number> = []
  const measure = async (_id: number, rate: number, fine: boolean): Promise<Step> => {
    ran.push(rate)
    const clientLimited = clientLimitedAt(rate)
    return { targetRate: rate, held: rate <= limit && !clientLimited, clientLimited, fine }
  }
  return { ran, measure }
}

const coarse = [100, 200, 400, 800, 1600]

describe("searchLimit", () => {
  it("climbs the coarse rates to the first failure, then bisects towards the limit", async () => {
    const s = server(1000)
    const bound = await searchLimit(coarse, 2, s.measure)
    expect(s.ran).toEqual([100, 200, 400, 800, 1600, 1200, 1000])
    // 1,000 held; the last failure, 1,200, bounds the run.
    expect(bound).toMatchObject({ targetRate: 1200, held: false, clientLimited: false, fine: true })
  })

  it("answers undefined when every step held, and runs every rate without a search", async () => {
    expect(await searchLimit(coarse, 2, server(5000).measure)).toBeUndefined()
    const s = server(300)
    expect(await searchLimit(coarse, undefined, s.measure)).toBeUndefined()
    expect(s.ran).toEqual(coarse)
  })

  it("bisects below a coarse failure that was client-limited, and a failure of the server's own becomes the bound", async () => {
    const s = server(1000, (r) => r >= 1600)
    const bound = await searchLimit(coarse, 2, s.measure)
    expect(s.ran).toEqual([100, 200, 400, 800, 1600, 1200, 1000])
    expect(bound).toMatchObject({ targetRate: 1200, clientLimited: false })
  })

  it("keeps a trusted failure as the bound when a later bisection step is client-limited", async () => {
    // Fails on its own at 1,600 and 1,200; 1,000 cannot be told, the client being out of CPU.
    const s = server(900, (r) => r === 1000)
    const bound = await searchLimit(coarse, 2, s.measure)
    expect(s.ran).toEqual([100, 200, 400, 800, 1600, 1200, 1000])
    expect(bound).toMatchObject({ targetRate: 1200, clientLimited: false })
  })

  it("is bounded by a client-limited step only when no failure was the server's own", async () => {
    const s = server(5000, (r) => r >= 1100)
    const bound = await searchLimit(coarse, 2, s.measure)
    expect(s.ran).toEqual([100, 200, 400, 800, 1600, 1200, 1000])
    expect(bound).toMatchObject({ targetRate: 1200, clientLimited: true })
  })
})
