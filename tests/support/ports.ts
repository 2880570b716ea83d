/**
 * The one `freePort` of the tests, the bench and scripts/cassandra: a loopback port that is
 * free now, for servers that cannot pick their own.
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:net"

// Where the kernel's listen(0) ports start (Linux); below it, only explicit binds take ports.
const ephemeralLow = (): number => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 32768
  } catch {
    return 32768
  }
}

const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/**
 * A loopback port that is free now, for servers that cannot pick their own. It lies below
 * the ephemeral range: a server that a test stops and restarts on the same port must not
 * find it taken by a port some other process got from listen(0) in the meantime.
 */
export const freePort = async (): Promise<number> => {
  const high = ephemeralLow()
  const low = Math.max(1024, high - 12_000)
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (await isFree(port)) return port
  }
  throw new Error(`no free port found in ${low}..${high - 1}`)
}
