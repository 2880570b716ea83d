import { describe, expect, it } from "vitest"
import { commitConcurrency } from "../../storage/postgres/PostgresStore.ts"

describe("group commits in flight on PostgreSQL", () => {
  it("are four with the default pool, leave two connections to reads below that, and never drop under one", () => {
    expect(commitConcurrency(10)).toBe(4)
    expect(commitConcurrency(6)).toBe(4)
    expect(commitConcurrency(5)).toBe(3)
    expect(commitConcurrency(3)).toBe(1)
    expect(commitConcurrency(1)).toBe(1)
  })
})
