/**
 * Every server the bench measures runs as compiled JavaScript, without the TS loader (issue
 * 12: "every server as compiled JS"): our node from dist/ (`npm run build`; rebuilt here only
 * when its sources changed, by scripts/build-if-stale.mjs, as `npm start` does), and the
 * peers, the client processes and the GC preload bundled by esbuild into bench/.build/
 * (dependencies stay external and resolve from node_modules). The bundle is rebuilt on every
 * run: it takes well under a second.
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { ROOT } from "./children.ts"

/** Where the compiled peers, client worker and preload go (ignored by git). */
export const BENCH_BUILD = join(ROOT, "bench", ".build")

const ENTRIES = ["bench/peers/rawws.ts", "bench/peers/socketio.ts", "bench/peers/socketioPg.ts", "bench/peers/leanPg.ts", "bench/client/worker.ts", "bench/lib/gcOnSignal.ts", "bench/lib/gcTrace.ts"]

/** The compiled file of a bench source: bench/peers/rawws.ts -> bench/.build/peers/rawws.js. */
export const compiled = (source: string): string => join(BENCH_BUILD, source.replace(/^bench\//, "").replace(/\.ts$/, ".js"))

/** Our node's compiled entry point: the bundle `npm start` runs (scripts/bundle.mjs). */
export const OURS_ENTRY = join(ROOT, "dist", "bundle", "node", "main.js")

/** The same code before bundling (tsc's output), for profiles: see servers.ts. */
export const OURS_UNBUNDLED_ENTRY = join(ROOT, "dist", "src", "main.node.js")

let built = false

/** Builds dist/ when stale and the bench's own bundles; once per process. */
export const ensureBuilt = async (log: (line: string) => void = () => {}): Promise<void> => {
  if (built) return
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "build-if-stale.mjs")], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] })
  if (r.status !== 0) throw new Error(`scripts/build-if-stale.mjs failed (${r.status ?? r.signal})`)
  if (!existsSync(OURS_ENTRY)) throw new Error(`${OURS_ENTRY} missing after the build`)
  const { build } = await import("esbuild")
  await build({
    entryPoints: ENTRIES.map((e) => join(ROOT, e)),
    outdir: BENCH_BUILD,
    outbase: join(ROOT, "bench"),
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: `node${process.versions.node.split(".")[0]}`,
    logLevel: "warning"
  })
  built = true
  log(`compiled JS ready (dist/ and bench/.build/) in ${Math.round(performance.now() - t0)} ms`)
}
