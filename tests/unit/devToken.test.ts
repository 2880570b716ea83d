import { Option } from "effect"
import { Hono } from "hono"
import { describe, expect, it } from "vitest"
import { mountWeb } from "../../src/http/web.ts"

const app = () => {
  const minted: Array<string> = []
  const hono = new Hono()
  mountWeb(hono, new Map(), Option.some(async (user: string) => (minted.push(user), `token-for-${user.length}`)))
  return { hono, minted }
}

const post = (hono: Hono, body: string) => hono.request("/v1/dev/token", { method: "POST", body })

describe("dev sign-in (POST /v1/dev/token)", () => {
  it("mints a token for a name", async () => {
    const { hono, minted } = app()
    const res = await post(hono, '{"user":"alice"}')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ token: "token-for-5" })
    expect(minted).toEqual(["alice"])
  })

  it("refuses the reserved system sender instead of minting a token every surface rejects", async () => {
    const { hono, minted } = app()
    const res = await post(hono, '{"user":"system"}')
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: { code: "bad_request", message: 'user: "system" is reserved' } })
    expect(minted).toEqual([])
  })

  it("refuses a body that is not a user", async () => {
    const { hono, minted } = app()
    expect((await post(hono, "not json")).status).toBe(400)
    expect((await post(hono, '{"user":""}')).status).toBe(400)
    expect(minted).toEqual([])
  })
})
