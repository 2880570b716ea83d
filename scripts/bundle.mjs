/**
 * Bundles the compiled server (dist/src/main.node.js, from tsc) into dist/bundle/node/,
 * which is what `npm start` and the Docker image run.
 *
 * Why: Node spends most of a start loading modules. Importing the tsc output took 1.3 s here,
 * ~0.5 s of it `effect`'s few hundred ES modules (a module graph is resolved, read and
 * linked file by file, and a barrel import loads every module behind it). One bundled file
 * of the same code, tree-shaken, loads in a fraction of that: a first start on an empty
 * data directory went from 3.2-3.7 s to 1.7-2.0 s to healthy (docs/embedded.md).
 *
 * Only the pure-JavaScript packages of the runtime are bundled (Effect, Hono, jose). The
 * rest stay imports of node_modules: PGlite finds its WASM and data files beside its own
 * modules, the drivers (postgres, cassandra-driver, ioredis, nats) are loaded only when
 * configured, and `ws` loads optional native add-ons by name. Dynamic imports (the store
 * chosen at start) become chunks of their own, so they stay lazy.
 *
 * Files the server reads are found relative to the module that reads them
 * (`new URL("../../sql/", import.meta.url)`): from dist/bundle/node/ that is dist/, as from
 * the tsc output's dist/storage/sql/. Keep the bundle two folders below dist/.
 */
import { build } from "esbuild"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
export const bundleDir = join(root, "dist", "bundle", "node")

/** Packages compiled into the bundle; every other bare import stays external. */
const BUNDLED = new Set(["effect", "@effect/platform", "@effect/platform-node", "@effect/platform-node-shared", "hono", "@hono/node-server", "@hono/node-ws", "jose"])

const packageOf = (specifier) => {
  const parts = specifier.split("/")
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]
}

const onlyBundled = {
  name: "only-bundled",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("node:")) return { path: args.path, external: true }
      return BUNDLED.has(packageOf(args.path)) ? undefined : { path: args.path, external: true }
    })
  }
}

rmSync(bundleDir, { recursive: true, force: true })
await build({
  entryPoints: { main: join(root, "dist", "src", "main.node.js") },
  outdir: bundleDir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  plugins: [onlyBundled],
  // Bundled CommonJS code calls require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  logLevel: "warning"
})
