/**
 * The embedded default's start time and memory (issue 12), one small measurement apart from
 * the full bench:
 *
 *   node --import tsx bench/embedded.ts [--root DIR] [--run tsx|dist|npm] [--idle 60] [--runs 1]
 *
 * Per run: a first start on an empty data directory, then a second start on the directory the
 * first one left. Each start is timed from spawn to the first 200 from GET /healthz, and the
 * resident memory (VmRSS) of the server process and of its whole process tree is read when it
 * is healthy and again after `--idle` seconds of idling. `--root` runs another checkout (for
 * a before/after pair at the same moment on a loaded machine); `--run` picks the command:
 *
 * - `tsx`:  node --import tsx src/main.node.ts   (the TS loader in the server process)
 * - `dist`: node dist/bundle/node/main.js        (the compiled, bundled build; run `npm run build` first)
 * - `npm`:  npm start                            (whatever the checkout's start script is)
 *
 * The server is a process group of its own, stopped by its id (SIGTERM, then SIGKILL).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { setTimeout as delay } from "node:timers/promises"
import { parseArgs } from "node:util"
import { freePort, ROOT } from "./lib/children.ts"
import { machineLoadWindow, type MachineLoad } from "./lib/machineLoad.ts"
import { CLK_TCK, cpuTicks, mb, rssBytes } from "./lib/procstat.ts"

const { values } = parseArgs({
  options: {
    root: { type: "string", default: ROOT },
    run: { type: "string", default: "tsx" },
    idle: { type: "string", default: "60" },
    runs: { type: "string", default: "1" },
    label: { type: "string" }
  }
})

const root = resolve(values.root)
const idleMs = Number(values.idle) * 1000
const label = values.label ?? `${values.run} ${root}`

const command = (run: string): [string, Array<string>] => {
  switch (run) {
    case "tsx":
      return [process.execPath, ["--import", "tsx", "src/main.node.ts"]]
    case "dist":
      return [process.execPath, ["dist/bundle/node/main.js"]]
    case "npm":
      return ["npm", ["start", "--silent"]]
    default:
      throw new Error(`--run must be tsx, dist or npm, not ${run}`)
  }
}

/** The pids of `rootPid` and all its descendants, from /proc. */
const tree = (rootPid: number): Array<number> => {
  const parent = new Map<number, number>()
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8")
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
    } catch {
      // exited while we looked
    }
  }
  const out = [rootPid]
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid)
  return out
}

/** RSS of the largest process of the tree (the server) and of the whole tree, in MB. */
const memory = (rootPid: number) => {
  const rss = tree(rootPid).map(rssBytes)
  return { server: mb(Math.max(...rss)), tree: mb(rss.reduce((a, b) => a + b, 0)) }
}

/** CPU time (user + system) of the live processes of the tree, in ms. */
const cpuMs = (rootPid: number) => Math.round((tree(rootPid).map(cpuTicks).reduce((a, b) => a + b, 0) * 1000) / CLK_TCK)

interface StartResult {
  readonly healthyMs: number
  /** CPU the server's processes used to get there: less dependent on the machine's load than wall time. */
  readonly cpuMs: number
  /** The whole machine from spawn to healthy: a start measured on a busy machine shows it. */
  readonly machine: MachineLoad
  readonly atHealthy: { server: number; tree: number }
  readonly afterIdle: { server: number; tree: number }
}

const start = async (dataDir: string): Promise<StartResult> => {
  const port = await freePort()
  const [cmd, args] = command(values.run!)
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CHAT_")) env[k] = v
  Object.assign(env, { CHAT_DATA_DIR: dataDir, CHAT_PORT: String(port), CHAT_HOST: "127.0.0.1" })
  const t0 = performance.now()
  const window = machineLoadWindow()
  const child = spawn(cmd, args, { cwd: root, env, detached: true, stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    process.kill(-child.pid!, "SIGTERM")
    const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 15_000)
    await exited
    clearTimeout(timer)
  }
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${stderr}`)
      if (performance.now() - t0 > 120_000) throw new Error(`not healthy after 120 s:\n${stderr}`)
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => (await r.arrayBuffer(), r.ok))
        .catch(() => false)
      if (ok) break
      await delay(20)
    }
    const healthyMs = Math.round(performance.now() - t0)
    const cpu = cpuMs(child.pid!)
    const machine = window.end((cpu * CLK_TCK) / 1000)
    const atHealthy = memory(child.pid!)
    await delay(idleMs)
    const afterIdle = memory(child.pid!)
    return { healthyMs, cpuMs: cpu, machine, atHealthy, afterIdle }
  } finally {
    await stop()
  }
}

const show = (what: string, r: StartResult) =>
  console.log(
    `${label} | ${what} | healthy ${r.healthyMs} ms (CPU ${r.cpuMs} ms) | RSS at healthy ${r.atHealthy.server} MB (tree ${r.atHealthy.tree}) | ` +
      `after ${values.idle} s idle ${r.afterIdle.server} MB (tree ${r.afterIdle.tree}) | ` +
      `machine while starting: busy ${r.machine.busyPct} %, steal ${r.machine.stealPct} %, ` +
      `cpu pressure ${r.machine.pressurePct ?? "n/a"} %, others ${r.machine.outsidePct} % of all CPUs`
  )

for (let i = 0; i < Number(values.runs); i++) {
  const dir = mkdtempSync(join(tmpdir(), "chat-embedded-"))
  try {
    show("first start", await start(join(dir, "data")))
    show("second start", await start(join(dir, "data")))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
