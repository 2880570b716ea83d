/**
 * Runs the Deno smoke test (`deno task test`, tests/deno/smoke.ts) from vitest, so
 * `npm test` covers the Deno runtime too. The Deno binary is the `deno` devDependency's.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))
/** smoke.ts bounds itself at 120 s; this outer bound only catches a stuck Deno. */
const RUN_TIMEOUT_MS = 150_000

const runSmoke = () =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    const child = spawn(`${root}node_modules/.bin/deno`, ["task", "test"], {
      cwd: root,
      env: {
        ...process.env,
        // A project-local cache (ignored by git): works on a fresh clone, no HOME needed.
        DENO_DIR: process.env.DENO_DIR ?? `${root}.cache/deno`,
        NO_COLOR: "1"
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so a stuck run is killed with the node it started.
      detached: true
    })
    let output = ""
    child.stdout.on("data", (b: Buffer) => (output += b.toString()))
    child.stderr.on("data", (b: Buffer) => (output += b.toString()))
    const timer = setTimeout(() => {
      output += `\n(killed after ${RUN_TIMEOUT_MS} ms)`
      process.kill(-child.pid!, "SIGKILL")
    }, RUN_TIMEOUT_MS)
    // A missing binary (no `npm install`?) fails the test with the reason, not a hang.
    child.once("error", (e) => {
      clearTimeout(timer)
      resolve({ code: null, signal: null, output: `${output}\n${e.message}` })
    })
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output })
    })
  })

it(
  "deno - the smoke run passes: REST, WebSocket delivery, history, Connect, the OpenAPI document and shutdown with 1001",
  async () => {
    const { code, signal, output } = await runSmoke()
    const summary = /^smoke: (\d+) passed, (\d+) failed$/m.exec(output)
    expect({ code, signal, summary: summary?.[0] }, output.slice(-4000)).toEqual({
      code: 0,
      signal: null,
      summary: expect.stringMatching(/^smoke: [1-9]\d* passed, 0 failed$/)
    })
  },
  RUN_TIMEOUT_MS + 10_000
)
