/**
 * The data directory with real server processes: one process at a time (an OS-released
 * lock), created owner-only when missing.
 */
import { statSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runCli, startChild, tempDir } from "../support/node.ts"
import { fatalLine, runToExit } from "../support/exitingNode.ts"

describe("data dir - one process at a time", () => {
  it("data dir - a second server on the same directory refuses with one line naming the directory and the holder's pid; the CLI too", async () => {
    const dataDir = tempDir()
    const first = await startChild({ CHAT_DATA_DIR: dataDir })
    try {
      const second = await runToExit({ CHAT_DATA_DIR: dataDir })
      expect(second.code).not.toBe(0)
      const line = fatalLine(second)
      expect(line).toContain(dataDir)
      expect(line).toContain(`pid ${first.child.pid}`)
      // A command that opens the store is refused the same way.
      const cli = await runCli(["rotate-master-key"], {
        CHAT_DATA_DIR: dataDir,
        CHAT_JWT_SECRET: "x".repeat(40),
        CHAT_MASTER_KEY: "11".repeat(32)
      })
      expect(cli.code).not.toBe(0)
      expect(cli.stdout + cli.stderr).toContain(`pid ${first.child.pid}`)
      // The holder is unaffected.
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200)
    } finally {
      await first.close()
    }
  }, 600_000)

  it("data dir - a holder killed with SIGKILL leaves the directory free for the next server", async () => {
    const dataDir = tempDir()
    const first = await startChild({ CHAT_DATA_DIR: dataDir })
    const exited = new Promise((r) => first.child.once("exit", r))
    first.child.kill("SIGKILL")
    await exited
    const next = await startChild({ CHAT_DATA_DIR: dataDir })
    try {
      expect((await fetch(`${next.url}/readyz`)).status).toBe(200)
    } finally {
      await next.close()
    }
  }, 600_000)
})

describe("data dir - created when missing", () => {
  it("data dir - with CHAT_JWT_SECRET and CHAT_MASTER_KEY set, a missing nested CHAT_DATA_DIR is created with mode 0700 and PGlite's directory is owner-only", async () => {
    const dataDir = join(tempDir(), "not", "there", "yet")
    const node = await startChild({ CHAT_DATA_DIR: dataDir })
    try {
      expect((await fetch(`${node.url}/readyz`)).status).toBe(200)
      expect(statSync(dataDir).mode & 0o777).toBe(0o700)
      expect(statSync(join(dataDir, "..")).mode & 0o777).toBe(0o700)
      expect(statSync(join(dataDir, "pglite")).mode & 0o777).toBe(0o700)
    } finally {
      await node.close()
    }
  }, 600_000)
})
