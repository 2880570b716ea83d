/**
 * What an open WebSocket keeps on Node (src/platform/node.ts): not the upgrade request, and
 * none of node-ws's per-socket listeners. node-ws's per-socket closures keep whatever
 * context its handler is given for the socket's life; the platform hands it a stand-in, so
 * Hono's context (Request, headers) and Node's IncomingMessage can be collected while the
 * socket stays open (checked with weak references and forced collections). The platform
 * listens to the socket itself and removes node-ws's listeners, with its context and URL;
 * the app's events still see every message, close and error.
 */
import { Effect, Exit, Scope } from "effect"
import { Hono } from "hono"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { afterAll, describe, expect, it } from "vitest"
import net from "node:net"
import WebSocket from "ws"
import { makeNodePlatform } from "../../src/platform/node.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

describe("Node WebSocket upgrade - memory", () => {
  const scope = Effect.runSync(Scope.make())
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  const listen = async (platform: ReturnType<typeof makeNodePlatform>, app: Hono): Promise<number> =>
    (await Effect.runPromise(Scope.extend(platform.serve(app, { port: 0, host: "127.0.0.1", maxPayloadBytes: 1024 }), scope))).port
  const open = async (port: number): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    await new Promise((resolve, reject) => {
      ws.once("open", resolve)
      ws.once("error", reject)
    })
    return ws
  }
  /** Sends `text` and answers the next message's text. */
  const roundTrip = (ws: WebSocket, text: string) =>
    new Promise<string>((resolve) => {
      ws.once("message", (d) => resolve(d.toString()))
      ws.send(text)
    })

  it("an open socket keeps neither the Hono context nor the IncomingMessage of its upgrade", async () => {
    const platform = makeNodePlatform()
    const refs: Array<WeakRef<object>> = []
    const app = new Hono()
    app.get(
      "/ws",
      platform.upgradeWebSocket((c) => {
        refs.push(new WeakRef(c), new WeakRef((c.env as { incoming: object }).incoming))
        return {
          onMessage(evt, ws) {
            ws.send(`echo:${String(evt.data)}`)
          }
        }
      })
    )
    const port = await listen(platform, app)
    const ws = await open(port)
    expect(await roundTrip(ws, "hi")).toBe("echo:hi")
    expect(refs).toHaveLength(2)

    // WeakRefs hold their target until the current job ends; then collect.
    for (let i = 0; i < 5 && refs.some((r) => r.deref() !== undefined); i++) {
      await new Promise((resolve) => setImmediate(resolve))
      gc()
    }
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true])

    // The socket is still open and served.
    expect(await roundTrip(ws, "still")).toBe("echo:still")
    ws.close()
  })

  it("the socket keeps one listener per event, and the app still gets messages, close codes and errors", async () => {
    const platform = makeNodePlatform()
    const seen: Array<string> = []
    let raw: import("ws").WebSocket | undefined
    let closed: (() => void) | undefined
    const app = new Hono()
    app.get(
      "/ws",
      platform.upgradeWebSocket(() => ({
        onOpen(_evt, ws) {
          raw = ws.raw as import("ws").WebSocket
          seen.push(`open ${ws.readyState}`)
        },
        onMessage(evt, ws) {
          seen.push(`message ${String(evt.data)}`)
          ws.send(`echo:${String(evt.data)}`)
        },
        onClose(evt) {
          seen.push(`close ${evt.code} ${evt.reason}`)
          closed?.()
        },
        onError() {
          seen.push("error")
        }
      }))
    )
    const port = await listen(platform, app)
    const ws = await open(port)
    expect(await roundTrip(ws, "hi")).toBe("echo:hi")
    // node-ws's listeners are gone, and ws's client tracking is off: one listener each for
    // message, close and error (the platform's), each kept as a function, not a list.
    expect(raw!.listenerCount("message")).toBe(1)
    expect(raw!.listenerCount("error")).toBe(1)
    expect(raw!.listenerCount("close")).toBe(1)
    expect(typeof (raw as unknown as { _events: Record<string, unknown> })._events.close).toBe("function")
    // The TCP socket has ws's error listener only: the upgrade's guard is gone.
    const socket = (raw as unknown as { _socket: net.Socket })._socket
    expect(socket.listenerCount("error")).toBe(1)
    expect(typeof (socket as unknown as { _events: Record<string, unknown> })._events.error).toBe("function")
    const gone = new Promise<void>((resolve) => (closed = resolve))
    ws.close(4001, "bye")
    await gone
    expect(seen).toEqual(["open 1", "message hi", "close 4001 bye"])

    // A frame that breaks the protocol (RSV1 set, no extension negotiated): ws reports an
    // error and closes (1002 to the client; the server side, with no close frame back, reports
    // 1006); the app hears both, once, and the server goes on.
    seen.length = 0
    const bad = net.connect(port, "127.0.0.1")
    bad.on("error", () => {})
    bad.write(
      "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await new Promise<void>((resolve) => bad.once("data", () => resolve()))
    const closedBad = new Promise<void>((resolve) => (closed = resolve))
    // FIN + RSV1 + text, masked, empty payload.
    bad.write(Buffer.from([0xc1, 0x80, 1, 2, 3, 4]))
    await closedBad
    bad.destroy()
    expect(seen).toEqual(["open 1", "error", "close 1006 "])
    const again = await open(port)
    expect(await roundTrip(again, "still")).toBe("echo:still")
    again.close()
  })

  it("stopping the server ends every open socket (the platform tracks them, not ws)", async () => {
    const platform = makeNodePlatform()
    const app = new Hono()
    app.get("/ws", platform.upgradeWebSocket(() => ({})))
    const serverScope = Effect.runSync(Scope.make())
    const { port } = await Effect.runPromise(
      Scope.extend(platform.serve(app, { port: 0, host: "127.0.0.1", maxPayloadBytes: 1024 }), serverScope)
    )
    const sockets = [await open(port), await open(port), await open(port)]
    // One closes on its own first: it must not be counted among the open ones.
    const first = new Promise<number>((resolve) => sockets[0]!.once("close", resolve))
    sockets[0]!.close(1000)
    expect(await first).toBe(1000)
    const ended = sockets.slice(1).map((ws) => new Promise<number>((resolve) => ws.once("close", resolve)))
    await Effect.runPromise(Scope.close(serverScope, Exit.void))
    // Terminated: no close frame, so the clients see 1006.
    expect(await Promise.all(ended)).toEqual([1006, 1006])
  })
})
