/**
 * What an open WebSocket keeps on Node (src/platform/node.ts): not the upgrade request.
 * node-ws's per-socket closures keep whatever context its handler is given for the
 * socket's life; the platform hands it a stand-in, so Hono's context (Request, headers) and
 * Node's IncomingMessage can be collected while the socket stays open. Checked with weak
 * references and forced collections.
 */
import { Effect, Exit, Scope } from "effect"
import { Hono } from "hono"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { afterAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { makeNodePlatform } from "../../src/platform/node.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

describe("Node WebSocket upgrade - memory", () => {
  const scope = Effect.runSync(Scope.make())
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

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
    const { port } = await Effect.runPromise(
      Scope.extend(platform.serve(app, { port: 0, host: "127.0.0.1", maxPayloadBytes: 1024 }), scope)
    )
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    await new Promise((resolve, reject) => {
      ws.once("open", resolve)
      ws.once("error", reject)
    })
    ws.send("hi")
    expect(await new Promise((resolve) => ws.once("message", (d) => resolve(d.toString())))).toBe("echo:hi")
    expect(refs).toHaveLength(2)

    // WeakRefs hold their target until the current job ends; then collect.
    for (let i = 0; i < 5 && refs.some((r) => r.deref() !== undefined); i++) {
      await new Promise((resolve) => setImmediate(resolve))
      gc()
    }
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true])

    // The socket is still open and served.
    ws.send("still")
    expect(await new Promise((resolve) => ws.once("message", (d) => resolve(d.toString())))).toBe("echo:still")
    ws.close()
  })
})
