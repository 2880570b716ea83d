/**
 * `npm start`'s prestart: makes dist/ (the compiled server, what the Docker image runs) when
 * it is missing or was built from other sources than those in the tree, so `npm start` runs
 * the same JavaScript as production (`node dist/bundle/node/main.js`: the tsc output bundled
 * by scripts/bundle.mjs) and not the TS loader
 * (docs/embedded.md has the measurement: the loader adds ~100 MB of RSS). A first start on a
 * fresh clone builds once (tsc); later starts compare a hash of the sources and skip it.
 *
 * Plain JavaScript so it runs before anything is compiled. sql/ is copied to dist/sql, where
 * the compiled storage/sql/migrations.node.js looks for the migrations (as in the Dockerfile).
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const stamp = join(root, "dist", ".sources.sha256")

const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory() ? files(p) : [p]
  })

const inputs = [
  ...["src", "actors", "core", "storage", "sql"].flatMap((d) => files(join(root, d))),
  join(root, "tsconfig.json"),
  join(root, "tsconfig.build.json"),
  join(root, "package-lock.json")
].sort()

const hash = createHash("sha256")
for (const f of inputs) hash.update(relative(root, f)).update("\0").update(readFileSync(f)).update("\0")
const digest = hash.digest("hex")

// Files the compiled server reads beside its code, laid out as in the Docker image: the web
// chat (built by clients/web/build.ts just before) and the CQL schema. Copied on every start,
// since the page can change without the server's sources changing.
const copyAssets = () => {
  const web = join(root, "clients", "web", "dist")
  if (existsSync(web)) cpSync(web, join(root, "dist", "clients", "web", "dist"), { recursive: true })
  cpSync(join(root, "schema.cql"), join(root, "dist", "schema.cql"))
}

// One build at a time: test files that start the built server run in parallel workers, and
// each runs this script first. mkdir is atomic; a lock older than ten minutes is a build that
// died and is taken over. (A lock file library would be one more dependency for 20 lines.)
const lock = join(root, "node_modules", ".chat-build-lock")
const pause = new Int32Array(new SharedArrayBuffer(4))
for (;;) {
  try {
    mkdirSync(lock)
    break
  } catch (e) {
    if (e?.code !== "EEXIST") throw e
    const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
    if (age > 600_000) rmSync(lock, { recursive: true, force: true })
    else Atomics.wait(pause, 0, 0, 200)
  }
}
process.on("exit", () => rmSync(lock, { recursive: true, force: true }))

if (existsSync(stamp) && readFileSync(stamp, "utf8") === digest && statSync(join(root, "dist", "bundle", "node", "main.js"), { throwIfNoEntry: false })) {
  copyAssets()
  process.exit(0)
}

console.error("building dist/ (tsc -p tsconfig.build.json, then scripts/bundle.mjs): the sources changed since the last build")
rmSync(join(root, "dist"), { recursive: true, force: true })
const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit"
})
if (tsc.status !== 0) process.exit(tsc.status ?? 1)
const bundle = spawnSync(process.execPath, [join(root, "scripts", "bundle.mjs")], { cwd: root, stdio: "inherit" })
if (bundle.status !== 0) process.exit(bundle.status ?? 1)
cpSync(join(root, "sql"), join(root, "dist", "sql"), { recursive: true })
copyAssets()
writeFileSync(stamp, digest)
