/**
 * Throw-away Redis servers. globalSetup starts one per run (`redisForRun`; with
 * CHAT_TEST_REDIS_URL set, that server is used instead and nothing is started); tests that
 * stop Redis mid-run ("Redis down") start their own with `startRedis()`.
 *
 * The server listens on 127.0.0.1 only, on a free port, without persistence: the data is
 * disposable, and a restart therefore comes back empty, as a crashed cache would.
 */
import { createConnection } from "node:net"
import { freePort } from "./ports.ts"
import { requireBinary, spawnServer, type ServerProcess } from "./serverProcess.ts"

export interface RunningRedis {
  /** redis://127.0.0.1:port */
  readonly url: string
  readonly port: number
  readonly running: () => boolean
  /** The server's process id now (it changes on restart): for SIGSTOP/SIGCONT. */
  readonly pid: () => number
  /** Stops the server (idempotent); clients see their connection drop. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port (stopping it first if it is running). */
  readonly restart: () => Promise<void>
}

const BIN = "/usr/bin/redis-server"

/** Resolves once the server answers PING with PONG on a fresh connection. */
const ping = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    let reply = ""
    socket.setTimeout(5_000, () => socket.destroy(new Error("PING timed out")))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk) => {
      reply += chunk.toString()
      if (!reply.includes("\r\n")) return
      socket.end()
      if (reply.startsWith("+PONG")) resolve()
      else reject(new Error(`redis-server answered PING with ${JSON.stringify(reply)}`))
    })
    socket.once("error", reject)
  })

const launch = async (port: number): Promise<ServerProcess> => {
  const { process } = await spawnServer(
    requireBinary(BIN, "redis-server", "CHAT_TEST_REDIS_URL"),
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
    { name: `redis-server on port ${port}`, ready: /Ready to accept connections/ }
  )
  try {
    await ping(port)
  } catch (e) {
    await process.kill("SIGKILL")
    throw e
  }
  return process
}

/** A new server of its own, for a test that stops or restarts it. */
export const startRedis = async (): Promise<RunningRedis> => {
  const port = await freePort()
  let server = await launch(port)
  const stop = () => server.kill("SIGTERM")
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    running: () => server.running(),
    pid: () => server.pid,
    stop,
    restart: async () => {
      await stop()
      server = await launch(port)
    }
  }
}

/** The run's shared server: CHAT_TEST_REDIS_URL when set, otherwise a new one. */
export const redisForRun = async (): Promise<{ readonly url: string; readonly stop: () => Promise<void> }> => {
  const external = process.env.CHAT_TEST_REDIS_URL
  if (external !== undefined && external !== "") return { url: external, stop: async () => {} }
  return startRedis()
}
