/**
 * Throw-away NATS servers with JetStream. globalSetup starts one per run (`natsForRun`;
 * with CHAT_TEST_NATS_URL set, that server is used instead and nothing is started); tests
 * that kill servers start their own: `startNats()` for one, `startNatsCluster(3)` for a
 * JetStream cluster of three whose members can be killed and restarted one at a time.
 *
 * Servers listen on 127.0.0.1 only and keep JetStream data in a temporary directory that
 * `stop()` removes. Ready means: the server logged that it is ready and a NATS client
 * connected to it; in a cluster, also that a stream replicated on every member can be
 * created (after a start, and after a member's restart).
 */
import { join } from "node:path"
import { connect, StorageType } from "nats"
import { freePort } from "./ports.ts"
import { waitFor } from "./wait.ts"
import { requireBinary, spawnServer, tempDirFor, type ServerProcess } from "./serverProcess.ts"

const BIN = "/usr/sbin/nats-server"

export interface RunningNats {
  /** nats://127.0.0.1:port */
  readonly url: string
  readonly port: number
  /** Kills the server and removes its JetStream directory (idempotent). */
  readonly stop: () => Promise<void>
}

export interface NatsClusterNode {
  /** The server_name, also its JetStream peer name. */
  readonly name: string
  readonly url: string
  readonly running: () => boolean
  /** SIGKILL: a crash. Its JetStream directory stays, as a crashed machine's disk would. */
  readonly kill: () => Promise<void>
  /** Starts it again on the same ports and directory; resolves once streams can be placed on every member again. */
  readonly restart: () => Promise<void>
}

export interface NatsCluster {
  /** Every member's client URL, in member order. */
  readonly urls: ReadonlyArray<string>
  readonly nodes: ReadonlyArray<NatsClusterNode>
  /** Kills every member and removes the directories (idempotent). */
  readonly stop: () => Promise<void>
}

const binary = () => requireBinary(BIN, "nats-server", "CHAT_TEST_NATS_URL")

/** Port 0 would mean "default 4222" to nats-server; -1 asks it to pick a free port (single servers, never restarted). */
const RANDOM_PORT = "-1"

// "Listening for client connections" comes before "Server is ready"; group `port` is the client port.
const ready = /Listening for client connections on [^\s]+:(?<port>\d+)[\s\S]*Server is ready/

/** The server accepts clients: connect once with the real client, then close. */
const probe = async (url: string) => {
  const nc = await connect({ servers: url, reconnect: false, timeout: 5_000 })
  await nc.close()
}

/**
 * Waits until a stream with `replicas` replicas can be placed through the server at `url`:
 * the metadata leader is elected and knows every peer. No event says so (a member that
 * joins after the election does not even log the leader), so this tries, within a bound.
 */
const awaitPlacement = async (url: string, replicas: number, timeoutMs = 60_000) => {
  const nc = await connect({ servers: url, reconnect: false, timeout: 5_000 })
  const name = `harness_probe_${crypto.randomUUID().slice(0, 8)}`
  let last: unknown
  try {
    // Elections and peer registration run on the servers' timers: there is nothing to await
    // but the servers' answer, so the probe is retried until they place the stream.
    await waitFor(
      `JetStream at ${url} to place a ${replicas}-replica stream`,
      async () => {
        try {
          const jsm = await nc.jetstreamManager({ timeout: 500 })
          await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: replicas, storage: StorageType.Memory })
          await jsm.streams.delete(name)
          return true
        } catch (e) {
          last = String(e)
          return false
        }
      },
      { timeoutMs, intervalMs: 100, describe: () => last }
    )
  } finally {
    await nc.close()
  }
}

const launch = async (args: ReadonlyArray<string>, name: string): Promise<{ server: ServerProcess; port: number }> => {
  const started = await spawnServer(binary(), ["-a", "127.0.0.1", ...args], { name, ready, timeoutMs: 30_000 })
  const port = Number(started.ready.groups?.port)
  try {
    await probe(`nats://127.0.0.1:${port}`)
  } catch (e) {
    await started.process.kill("SIGKILL")
    throw e
  }
  return { server: started.process, port }
}

/** One server of its own with JetStream. */
export const startNats = async (): Promise<RunningNats> => {
  const dir = tempDirFor("chat-test-nats-")
  try {
    const { server, port } = await launch(["-p", RANDOM_PORT, "-js", "-sd", dir.path], "nats-server")
    return {
      url: `nats://127.0.0.1:${port}`,
      port,
      stop: async () => {
        await server.kill("SIGKILL")
        dir.remove()
      }
    }
  } catch (e) {
    dir.remove()
    throw e
  }
}

/**
 * One server with JetStream on a fixed port and directory, which a test can kill (SIGKILL:
 * a crash) and start again where its clients look for it, with its JetStream data.
 */
export const startRestartableNats = async (): Promise<
  RunningNats & { readonly kill: () => Promise<void>; readonly restart: () => Promise<void> }
> => {
  const dir = tempDirFor("chat-test-nats-")
  const port = await freePort()
  const args = ["-p", String(port), "-js", "-sd", dir.path]
  let server: ServerProcess | undefined
  try {
    server = (await launch(args, "nats-server")).server
  } catch (e) {
    dir.remove()
    throw e
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill: async () => {
      await server?.kill("SIGKILL")
    },
    restart: async () => {
      await server?.kill("SIGKILL")
      server = (await launch(args, "nats-server")).server
    },
    stop: async () => {
      await server?.kill("SIGKILL")
      dir.remove()
    }
  }
}

/**
 * `size` servers routed to each other as one cluster, JetStream clustered across them
 * (distinct server names and store directories). With 3, streams and KV buckets with 3
 * replicas keep working while any one member is down.
 */
export const startNatsCluster = async (size = 3): Promise<NatsCluster> => {
  const dir = tempDirFor("chat-test-nats-cluster-")
  const clusterName = `chat-test-${crypto.randomUUID().slice(0, 8)}`
  const nodes: Array<NatsClusterNode> = []
  try {
    // Fixed ports (not -1) so that a restarted member comes back where its peers and clients look for it.
    const ports = new Set<number>()
    while (ports.size < 2 * size) ports.add(await freePort())
    const [clientPorts, routePorts] = [[...ports].slice(0, size), [...ports].slice(size)]
    // Every member gets every route, its own included: nats-server ignores a route to itself.
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",")
    const members = routePorts.map((routePort, i) => {
      const name = `n${i + 1}`
      const args = [
        "-p", String(clientPorts[i]), "-n", name, "-js", "-sd", join(dir.path, name),
        "--cluster_name", clusterName, "--cluster", `nats://127.0.0.1:${routePort}`, "--routes", routes
      ]
      return { name, args }
    })
    // The members start together: a lone member waits for its peers before electing a leader.
    const started = await Promise.all(
      members.map(async ({ name, args }) => {
        try {
          return await launch(args, `nats-server ${name}`)
        } catch (e) {
          return e instanceof Error ? e : new Error(String(e))
        }
      })
    )
    started.forEach((s, i) => {
      if (s instanceof Error) return
      const { name, args } = members[i]
      const port = s.port
      let server = s.server
      nodes.push({
        name,
        url: `nats://127.0.0.1:${port}`,
        running: () => server.running(),
        kill: () => server.kill("SIGKILL"),
        restart: async () => {
          await server.kill("SIGKILL")
          server = (await launch(args, `nats-server ${name}`)).server
          await awaitPlacement(`nats://127.0.0.1:${port}`, size)
        }
      })
    })
    const failed = started.find((s): s is Error => s instanceof Error)
    if (failed !== undefined) throw failed
    await awaitPlacement(nodes[0].url, size)
  } catch (e) {
    await Promise.all(nodes.map((n) => n.kill()))
    dir.remove()
    throw e
  }
  return {
    urls: nodes.map((n) => n.url),
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.kill()))
      dir.remove()
    }
  }
}

/** The run's shared server: CHAT_TEST_NATS_URL when set, otherwise a new one. */
export const natsForRun = async (): Promise<{ readonly url: string; readonly stop: () => Promise<void> }> => {
  const external = process.env.CHAT_TEST_NATS_URL
  if (external !== undefined && external !== "") return { url: external, stop: async () => {} }
  return startNats()
}
