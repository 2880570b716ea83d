/**
 * The web chat (built from clients/web/ into clients/web/dist/) served at `/`, and the
 * development sign-in that mints tokens for a typed name. The files are read once at
 * start-up; a node without a build answers `/` with a page that says how to make one.
 */
import { Effect, Option, Schema } from "effect"
import { FileSystem, Path } from "@effect/platform"
import type { Hono } from "hono"
import { SYSTEM_SENDER, UserId } from "../../core/model.ts"

export interface WebAsset {
  readonly body: Uint8Array
  readonly type: string
}
/** File name (`index.html`, `app.js`, …) → contents. Empty when the page is not built. */
export type WebAssets = ReadonlyMap<string, WebAsset>

/** Relative to this module, so it holds in the source tree and in the compiled dist/ alike. */
export const webDistDir = new URL("../../clients/web/dist/", import.meta.url)

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  map: "application/json"
}

export const loadWebAssets: Effect.Effect<WebAssets, never, FileSystem.FileSystem | Path.Path> = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* path.fromFileUrl(webDistDir)
  const names = yield* fs.readDirectory(dir)
  const assets = new Map<string, WebAsset>()
  for (const name of names) {
    const type = TYPES[name.split(".").pop() ?? ""]
    if (type === undefined) continue
    assets.set(name, { body: yield* fs.readFile(path.join(dir, name)), type })
  }
  return assets as WebAssets
}).pipe(Effect.orElseSucceed((): WebAssets => new Map()))

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>chat</title>
<p>The web chat is not built. Run <code>npm start</code> (it builds it first) or <code>npm run build:web</code>.</p></html>`

const SECURITY_HEADERS = {
  // The page loads only its own files and talks only to this node.
  "content-security-policy":
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

export const DevTokenRequest = Schema.Struct({ user: UserId })

/**
 * Mounts `/` and the page's files, and, when `devToken` is given (embedded mode with the
 * generated development secret only), `GET /v1/dev` and `POST /v1/dev/token`.
 */
export const mountWeb = (
  app: Hono<any>,
  assets: WebAssets,
  devToken: Option.Option<(user: string) => Promise<string>>
): void => {
  const serve = (name: string) => (c: any) => {
    const asset = assets.get(name)
    if (asset === undefined) {
      return name === "index.html" ? c.html(NOT_BUILT, 200, SECURITY_HEADERS) : c.notFound()
    }
    return c.body(asset.body, 200, { "content-type": asset.type, ...SECURITY_HEADERS })
  }
  app.get("/", serve("index.html"))
  for (const name of assets.keys()) if (name !== "index.html") app.get(`/${name}`, serve(name))

  if (Option.isSome(devToken)) {
    const mint = devToken.value
    app.get("/v1/dev", (c) => c.json({ devTokens: true }))
    app.post("/v1/dev/token", async (c) => {
      const json = await c.req.json().catch(() => undefined)
      const decoded = Schema.decodeUnknownOption(DevTokenRequest, { onExcessProperty: "ignore" })(json)
      if (Option.isNone(decoded)) {
        return c.json({ error: { code: "bad_request", message: "user: 1..128 characters without NUL" } }, 400)
      }
      // The server API's sender: every surface refuses a token for it, so minting one would
      // only hand the page a token that fails on first use.
      if (decoded.value.user === SYSTEM_SENDER) {
        return c.json({ error: { code: "bad_request", message: `user: "${SYSTEM_SENDER}" is reserved` } }, 400)
      }
      return c.json({ token: await mint(decoded.value.user) })
    })
  }
}
