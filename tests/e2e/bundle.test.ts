/**
 * What `npm start` and the Docker image run: the server bundled by scripts/bundle.mjs
 * (dist/bundle/node/main.js), built here as `npm start`'s prestart builds it. The chat suite
 * runs against it on an empty data directory (a first start: the PGlite template unpacked),
 * and the files it reads beside its code (migrations, the web page) are found from the bundle.
 */
import { spawnSync } from "node:child_process"
import { beforeAll, describe, expect, it } from "vitest"
import { startChild } from "../support/node.ts"
import { chatSuite } from "./chat.suite.ts"

beforeAll(() => {
  const r = spawnSync(process.execPath, ["scripts/build-if-stale.mjs"], { stdio: ["ignore", "inherit", "inherit"] })
  if (r.status !== 0) throw new Error(`scripts/build-if-stale.mjs failed (${r.status ?? r.signal})`)
}, 600_000)

chatSuite("child process, the bundle npm start runs", () => startChild({}, { built: true }))

describe("e2e (bundle) - files beside the code", () => {
  it("serves the web chat page and answers /readyz from the bundle", async () => {
    const node = await startChild({}, { built: true })
    try {
      const page = await fetch(`${node.url}/`)
      expect(page.status).toBe(200)
      expect(await page.text()).toContain("<html")
      expect((await fetch(`${node.url}/readyz`)).status).toBe(200)
    } finally {
      await node.close()
    }
  }, 60_000)
})
