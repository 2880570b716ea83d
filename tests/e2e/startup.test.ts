/**
 * Start-up checks with real processes: a setting or dependency that cannot work stops the
 * node with one JSON line naming it, its address and the cause, and a non-zero exit code.
 */
import { createServer, type Server } from "node:net"
import { describe, expect, inject, it } from "vitest"
import { fatalLine, runToExit } from "../support/exitingNode.ts"
import { freePort } from "../support/serverProcess.ts"
import { tempDir } from "../support/node.ts"

const listening = (): Promise<{ server: Server; port: number }> =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port }))
  })

describe.concurrent("start-up - one line naming the setting, the address and the cause", () => {
  it("start-up - a port in use names the listener, host:port and EADDRINUSE", async () => {
    const { server, port } = await listening()
    try {
      const exited = await runToExit({ CHAT_DATA_DIR: tempDir(), CHAT_PORT: String(port) })
      expect(exited.code).not.toBe(0)
      const line = fatalLine(exited)
      expect(line).toContain("CHAT_PORT")
      expect(line).toContain(`127.0.0.1:${port}`)
      expect(line).toContain("EADDRINUSE")
    } finally {
      server.close()
    }
  }, 600_000)

  it("start-up - a PostgreSQL URL to a closed port names CHAT_POSTGRES_URL, the address and ECONNREFUSED, never the password", async () => {
    const port = await freePort()
    const exited = await runToExit({ CHAT_STORE: "postgres", CHAT_POSTGRES_URL: `postgres://chat:hunter2secret@127.0.0.1:${port}/chat` })
    expect(exited.code).not.toBe(0)
    const line = fatalLine(exited)
    expect(line).toContain("PostgreSQL (CHAT_POSTGRES_URL)")
    expect(line).toContain(`127.0.0.1:${port}`)
    expect(line).toContain("ECONNREFUSED")
    expect(exited.output).not.toContain("hunter2secret")
  }, 600_000)

  it("start-up - a PostgreSQL database that does not exist is named", async () => {
    const url = new URL(inject("postgresUrl"))
    url.pathname = "/chat_no_such_database"
    const exited = await runToExit({ CHAT_STORE: "postgres", CHAT_POSTGRES_URL: url.toString() })
    expect(exited.code).not.toBe(0)
    const line = fatalLine(exited)
    expect(line).toContain("PostgreSQL (CHAT_POSTGRES_URL)")
    expect(line).toContain("chat_no_such_database")
    expect(line).toMatch(/does not exist/)
  }, 600_000)

  it("start-up - a closed Cassandra contact point names CHAT_SCYLLA_CONTACT_POINTS, the address and ECONNREFUSED", async () => {
    const port = await freePort()
    const exited = await runToExit({ CHAT_STORE: "scylla", CHAT_SCYLLA_CONTACT_POINTS: `127.0.0.1:${port}` })
    expect(exited.code).not.toBe(0)
    const line = fatalLine(exited)
    expect(line).toContain("CHAT_SCYLLA_CONTACT_POINTS")
    expect(line).toContain(`127.0.0.1:${port}`)
    expect(line).toContain("ECONNREFUSED")
  }, 600_000)

  it("start-up - a malformed setting is named", async () => {
    const exited = await runToExit({ CHAT_DATA_DIR: tempDir(), CHAT_MAX_BATCH: "lots" })
    expect(exited.code).not.toBe(0)
    expect(fatalLine(exited)).toContain("CHAT_MAX_BATCH")
  }, 600_000)

  it("start-up - a PGlite node pointed at a real NATS refuses to join, naming CHAT_STORE=postgres|scylla|dual", async () => {
    const exited = await runToExit({ CHAT_DATA_DIR: tempDir(), CHAT_NATS_URL: inject("natsUrl") })
    expect(exited.code).not.toBe(0)
    const line = fatalLine(exited)
    expect(line).toContain("CHAT_NATS_URL")
    expect(line).toContain("CHAT_STORE=postgres|scylla|dual")
  }, 600_000)
})
