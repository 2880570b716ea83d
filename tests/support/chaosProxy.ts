/**
 * A TCP proxy in front of a node that can cut every connection through it, as a network
 * failure would: the client sees its socket drop (1006), the server sees it close.
 */
import { createServer, connect as tcpConnect, type Socket } from "node:net"

export interface ChaosProxy {
  readonly url: string
  /** Connections cut so far. */
  readonly cuts: () => number
  /** Destroy every open connection now. */
  readonly cutAll: () => void
  /** Cut everything every `ms` until stopped. */
  readonly cutEvery: (ms: number) => () => void
  readonly close: () => Promise<void>
}

export const startChaosProxy = async (target: { host: string; port: number }): Promise<ChaosProxy> => {
  const open = new Set<Socket>()
  let cuts = 0
  const server = createServer((client) => {
    const upstream = tcpConnect(target.port, target.host)
    open.add(client)
    open.add(upstream)
    const drop = () => {
      open.delete(client)
      open.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    client.on("error", drop).on("close", drop)
    upstream.on("error", drop).on("close", drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  const cutAll = () => {
    if (open.size > 0) cuts++
    for (const s of open) s.destroy()
    open.clear()
  }
  return {
    url: `http://127.0.0.1:${port}`,
    cuts: () => cuts,
    cutAll,
    cutEvery: (ms) => {
      const timer = setInterval(cutAll, ms)
      return () => clearInterval(timer)
    },
    close: async () => {
      cutAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
