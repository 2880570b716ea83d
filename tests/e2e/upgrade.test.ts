/**
 * The Node WebSocket upgrade (src/platform/node.ts): the app decides on the upgrade
 * request, and a client that goes away in the middle of it cannot hurt the node.
 */
import net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { startInProcess, type TestNode } from "../support/node.ts"

const upgradeRequest = (token: string) =>
  "GET /v1/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
  `Authorization: Bearer ${token}\r\n\r\n`

/** Sends an upgrade request, then resets the connection after `delayMs`; resolves once closed. */
const resetDuringUpgrade = (port: number, token: string, delayMs: number) =>
  new Promise<void>((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(upgradeRequest(token))
      setTimeout(() => socket.resetAndDestroy(), delayMs)
    })
    socket.on("error", () => {})
    socket.once("close", () => resolve())
  })

describe("e2e - WebSocket upgrade on Node", () => {
  let node: TestNode
  beforeAll(async () => {
    node = await startInProcess()
  })
  afterAll(() => node?.close())

  it("refuses an upgrade without a valid token with the app's status", async () => {
    const ws = new WebSocket(node.wsUrl, { headers: { authorization: "Bearer not-a-token" } })
    const status = await new Promise<number>((resolve, reject) => {
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0))
      ws.once("open", () => reject(new Error("upgraded without a valid token")))
      ws.once("error", () => {})
    })
    expect(status).toBe(401)
  })

  it("clients that reset in the middle of the upgrade, accepted or refused, leave the node up", async () => {
    const port = Number(new URL(node.url).port)
    const good = await node.token("reset-user")
    // Resets at different points: before the app answers, while it authenticates, after.
    await Promise.all(Array.from({ length: 40 }, (_, i) => resetDuringUpgrade(port, i % 2 === 0 ? good : "bad", i % 5)))
    // A full round trip afterwards goes through the same listener.
    const ws = new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${good}` } })
    await new Promise((resolve, reject) => {
      ws.once("open", resolve)
      ws.once("error", reject)
    })
    ws.send(JSON.stringify({ type: "ping", id: "p" }))
    const pong = await new Promise<any>((resolve) => ws.once("message", (d) => resolve(JSON.parse(d.toString()))))
    expect(pong).toMatchObject({ type: "pong", id: "p" })
    ws.close()
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200)
  })
})
