/**
 * Builds the web chat into clients/web/dist/: one bundled script (the SDK included), the
 * page and its stylesheet. `npm start` runs it first (prestart); the node serves dist/ at `/`.
 * esbuild because it is one pinned dependency that bundles TypeScript in well under a second.
 */
import { build } from "esbuild"
import { copyFileSync, mkdirSync, readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, "dist")

export const buildWeb = async (): Promise<string> => {
  mkdirSync(out, { recursive: true })
  await build({
    entryPoints: [join(here, "src", "main.ts")],
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: false,
    outfile: join(out, "app.js"),
    logLevel: "warning"
  })
  for (const name of readdirSync(join(here, "public"))) copyFileSync(join(here, "public", name), join(out, name))
  return out
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildWeb()
}
