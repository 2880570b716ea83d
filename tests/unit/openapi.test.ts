/**
 * /openapi.json describes exactly the routes of the app, built with every optional part
 * (CORS, metrics, the web chat with its development sign-in, Connect, the server API, the
 * docs): a route without an entry, or an entry without a route, fails here. The only routes
 * not in the document, each by an explicit rule below (`excluded`):
 * - Connect/gRPC RPCs (`/<package>.<Service>/<Method>`): described by proto/, and checked
 *   against it by the second test;
 * - middleware (`app.use`, method ALL) on exactly the paths listed in MIDDLEWARE: anything
 *   else registered for every method (say `app.all`) is a route and must be documented;
 * - the web chat's own files (`GET /<file>` for each file of its build other than
 *   index.html, which is `/`): static assets of the page, not API.
 * Request schemas are the handlers' own (src/protocol/rest.ts), so they cannot drift.
 */
import { Option, Runtime } from "effect"
import { describe, expect, it } from "vitest"
import { makeRouter, mountOnApp } from "../../src/connect/serve.ts"
import { registerServices, type ConnectDeps } from "../../src/connect/services.ts"
import { mountServerRest, registerServerService, type ServerApiDeps } from "../../src/serverApi/serverApi.ts"
import { makeApp, type GatewayDeps } from "../../src/http/app.ts"
import type { WebAssets } from "../../src/http/web.ts"
import { makeDocument } from "../../src/openapi/document.ts"
import { mountDocs } from "../../src/openapi/serve.ts"

const asset = (type: string) => ({ body: new Uint8Array(), type })
/** A web build as clients/web/dist holds it: the page and the files it loads. */
const webAssets: WebAssets = new Map([
  ["index.html", asset("text/html")],
  ["app.js", asset("text/javascript")],
  ["app.css", asset("text/css")],
  ["favicon.svg", asset("image/svg+xml")]
])

/** Paths with middleware (src/http/app.ts: CORS and metrics on `*`, which Hono keeps as `/*`; authentication; body limits). */
const MIDDLEWARE = new Set(["/*", "/v1/rooms/*", "/v1/rooms", "/v1/devices/*", "/v1/devices", "/v1/*"])

// Routes are registered when the app is built; none of these is called.
const appWithAllRoutes = () => {
  const app = makeApp({
    runtime: Runtime.defaultRuntime,
    limits: { maxRestBodyBytes: 1024 },
    upgradeWebSocket: () => async (_c: unknown, next: () => Promise<void>) => next(),
    corsOrigins: ["*"],
    onHttpRequest: () => undefined,
    web: { assets: webAssets, devToken: Option.some(async () => "token") }
  } as unknown as GatewayDeps)
  const deps = { runtime: Runtime.defaultRuntime, keys: [] } as unknown as ConnectDeps & ServerApiDeps
  mountOnApp(
    app,
    makeRouter((router) => {
      registerServices(router, deps)
      registerServerService(router, deps)
    }, { readMaxBytes: 1024 })
  )
  mountServerRest(app, deps)
  mountDocs(app, "test")
  return app
}

const connectPath = /^\/(chat|tokens)\.v1\.\w+Service\/\w+$/

/** The rules of the header comment: true for a route the document need not describe. */
const excluded = (r: { method: string; path: string }): boolean =>
  connectPath.test(r.path) ||
  (r.method === "ALL" && MIDDLEWARE.has(r.path)) ||
  (r.method === "GET" && r.path !== "/" && webAssets.has(r.path.slice(1)) && r.path.slice(1) !== "index.html")

describe("openapi", () => {
  it("openapi - every route is in the document or excluded by a rule above, and every documented operation is a route", () => {
    const app = appWithAllRoutes()
    const served = new Set(
      app.routes
        .filter((r) => !excluded(r))
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`)
    )
    // The web routes are among them, and the rules exclude what they say and no more.
    for (const route of ["get /", "get /v1/dev", "post /v1/dev/token", "get /healthz"]) expect(served).toContain(route)
    expect(app.routes.filter(excluded).filter((r) => r.method === "GET" && !connectPath.test(r.path)).map((r) => r.path).sort()).toEqual(
      ["/app.css", "/app.js", "/favicon.svg"]
    )
    const doc = makeDocument({ version: "test" })
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
    )
    expect([...served].filter((r) => !documented.has(r)), "routes missing from the document").toEqual([])
    expect([...documented].filter((r) => !served.has(r)), "documented operations with no route").toEqual([])
  })

  it("openapi - the Connect routes on the main port are exactly the RPCs of proto/", () => {
    const app = appWithAllRoutes()
    const rpcs = app.routes.filter((r) => r.method === "POST" && connectPath.test(r.path)).map((r) => r.path)
    expect(rpcs).toContain("/chat.v1.ChatService/StreamMessages")
    expect(rpcs).toContain("/tokens.v1.TokensService/RegisterToken")
    expect(rpcs).toContain("/chat.v1.ServerService/SendMessageAs")
    expect(rpcs).toHaveLength(16 + 3 + 4)
  })

  it("openapi - the document is OpenAPI 3.1, every $ref resolves, and request bodies are the handlers' schemas", async () => {
    const doc = makeDocument({ version: "test" }) as any
    expect(doc.openapi).toBe("3.1.0")
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? []
    for (const ref of refs) {
      const name = /#\/components\/schemas\/(.+)"$/.exec(ref)?.[1]
      expect(name !== undefined && doc.components.schemas[name] !== undefined, ref).toBe(true)
    }
    const send = doc.paths["/v1/rooms/{room}/messages"].post.requestBody.content["application/json"].schema
    expect(send.required).toEqual(["body", "clientMsgId"])
    expect(send.properties.clientMsgId).toMatchObject({ minLength: 1, maxLength: 64 })
    const history = doc.paths["/v1/rooms/{room}/messages"].get.parameters.map((p: any) => [p.name, p.in])
    expect(history).toEqual([["room", "path"], ["before", "query"], ["limit", "query"]])
    // Served as JSON, and /docs is the reference page pointing at it.
    const app = appWithAllRoutes()
    expect(await (await app.request("/openapi.json")).json()).toEqual(JSON.parse(JSON.stringify(doc)))
    const page = await app.request("/docs")
    expect(page.status).toBe(200)
    expect(await page.text()).toContain("/openapi.json")
  })
})
