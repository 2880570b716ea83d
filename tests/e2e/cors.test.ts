/** CORS (CHAT_CORS_ORIGINS) against a real node: preflight before auth, only listed origins. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startInProcess, token, type TestNode } from "../support/node.ts"

const preflight = (node: TestNode, origin: string) =>
  fetch(`${node.url}/v1/rooms`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" }
  })

describe("http - CORS", () => {
  let open: TestNode
  let closed: TestNode
  beforeAll(async () => {
    ;[open, closed] = await Promise.all([startInProcess({ corsOrigins: ["https://app.example.com"] }), startInProcess()])
  }, 120_000)
  afterAll(async () => {
    await Promise.all([open?.close(), closed?.close()])
  })

  it("http - a preflight from an allowed origin is answered without a token, allowing the Authorization header", async () => {
    const r = await preflight(open, "https://app.example.com")
    expect(r.status).toBe(204)
    expect(r.headers.get("access-control-allow-origin")).toBe("https://app.example.com")
    expect(r.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization")
    expect(r.headers.get("access-control-allow-methods")).toContain("POST")
  })

  it("http - an allowed origin's authenticated request carries the CORS header; another origin gets none", async () => {
    const auth = { authorization: `Bearer ${await token("cors-alice")}` }
    const ok = await fetch(`${open.url}/v1/rooms`, { headers: { ...auth, origin: "https://app.example.com" } })
    expect(ok.status).toBe(200)
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com")
    const other = await fetch(`${open.url}/v1/rooms`, { headers: { ...auth, origin: "https://evil.example" } })
    expect(other.headers.get("access-control-allow-origin")).toBeNull()
    expect((await preflight(open, "https://evil.example")).headers.get("access-control-allow-origin")).toBeNull()
  })

  it("http - with no CHAT_CORS_ORIGINS (the default) no origin is allowed", async () => {
    const r = await preflight(closed, "https://app.example.com")
    expect(r.headers.get("access-control-allow-origin")).toBeNull()
  })
})
