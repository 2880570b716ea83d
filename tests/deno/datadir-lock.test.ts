/**
 * The data directory lock across runtimes: a Node server and a Deno server on one directory
 * exclude each other (the same lock socket, src/platform/dataDirLock.ts, on both).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { startChild, tempDir, TEST_MASTER_KEY, TEST_SECRET } from "../support/node.ts"
import { fatalLine, runToExit } from "../support/exitingNode.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))

const startDeno = (env: Record<string, string>) => {
  const child = spawn(`${root}node_modules/.bin/deno`, ["run", "--allow-all", "src/main.deno.ts"], {
    cwd: root,
    env: {
      ...process.env,
      DENO_DIR: process.env.DENO_DIR ?? `${root}.cache/deno`,
      NO_COLOR: "1",
      CHAT_PORT: "0",
      CHAT_HOST: "127.0.0.1",
      CHAT_JWT_SECRET: TEST_SECRET,
      CHAT_MASTER_KEY: TEST_MASTER_KEY,
      CHAT_LOG_LEVEL: "info",
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const settled = new Promise<{ code: number | null; listening: boolean }>((resolve) => {
    const onData = (b: Buffer) => {
      output += b.toString()
      if (/chat node listening/.test(output)) resolve({ code: null, listening: true })
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => resolve({ code, listening: false }))
  })
  return { child, settled, output: () => output }
}

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once("exit", r))
  child.kill("SIGTERM")
  await exited
}

describe("deno - data dir lock", () => {
  it("deno - a Deno server refuses a directory a Node server holds, and a Node server refuses one a Deno server holds", async () => {
    const nodeDir = tempDir()
    const holder = await startChild({ CHAT_DATA_DIR: nodeDir })
    try {
      const deno = startDeno({ CHAT_DATA_DIR: nodeDir })
      const r = await deno.settled
      await stop(deno.child)
      expect(r.listening, deno.output()).toBe(false)
      expect(r.code).not.toBe(0)
      expect(deno.output()).toContain(`pid ${holder.child.pid}`)
      expect(deno.output()).toContain(nodeDir)
    } finally {
      await holder.close()
    }

    const denoDir = tempDir()
    const denoHolder = startDeno({ CHAT_DATA_DIR: denoDir })
    try {
      expect((await denoHolder.settled).listening, denoHolder.output()).toBe(true)
      const node = await runToExit({ CHAT_DATA_DIR: denoDir })
      expect(node.code).not.toBe(0)
      expect(fatalLine(node)).toContain(`pid ${denoHolder.child.pid}`)
    } finally {
      await stop(denoHolder.child)
    }
  }, 600_000)
})
