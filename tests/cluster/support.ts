/**
 * Starts real chat nodes (child processes) that form a cluster over a NATS server of the
 * test's own, on one PostgreSQL database, and helpers to watch them.
 */
import { connect as natsConnect } from "nats"
import { freshDatabase, dropDatabase } from "../support/freshDatabase.ts"
import { startChild, type TestNode } from "../support/node.ts"
import { type Signal, waitFor } from "../support/wait.ts"
import { connect, type TestClient } from "../support/wsClient.ts"
import { ownerOf, shardOf, shardsOf } from "../../src/cluster/ShardMap.ts"

export const SHARDS = 32
export const LEASE_MS = 3_000

export type ClusterNodeProc = TestNode & { readonly id: string; readonly child: import("node:child_process").ChildProcess; readonly output: () => string }

export interface TestCluster {
  readonly nodes: ClusterNodeProc[]
  readonly dbUrl: string
  readonly add: (id: string) => Promise<ClusterNodeProc>
  readonly token: (user: string) => Promise<string>
  readonly close: () => Promise<void>
}

export const startCluster = async (
  natsUrl: string,
  ids: ReadonlyArray<string>,
  extraEnv: Record<string, string> = {}
): Promise<TestCluster> => {
  const dbUrl = await freshDatabase()
  const env = (id: string) => ({
    CHAT_NODE_ID: id,
    CHAT_NATS_URL: natsUrl,
    CHAT_STORE: "postgres",
    CHAT_POSTGRES_URL: dbUrl,
    CHAT_SHARDS: String(SHARDS),
    CHAT_LEASE_MS: String(LEASE_MS),
    CHAT_SEND_RATE: "10000",
    CHAT_SEND_BURST: "10000",
    ...extraEnv
  })
  const add = async (id: string) => Object.assign(await startChild(env(id)), { id }) as ClusterNodeProc
  // One at a time: the first runs the migrations, the others find them applied.
  const nodes: ClusterNodeProc[] = []
  for (const id of ids) nodes.push(await add(id))
  return {
    nodes,
    dbUrl,
    add: async (id) => {
      const n = await add(id)
      nodes.push(n)
      return n
    },
    token: (user) => nodes[0].token(user),
    close: async () => {
      await Promise.all(nodes.map((n) => n.close().catch(() => undefined)))
      await dropDatabase(dbUrl).catch(() => undefined)
    }
  }
}

export const readyz = async (node: TestNode): Promise<any> => {
  const r = await fetch(`${node.url}/readyz`)
  return r.json()
}

/**
 * Waits until the live nodes agree on `expected` members and together hold every shard.
 * Polling is the only way to observe another process's state here; it is bounded.
 */
export const awaitBalanced = async (nodes: ReadonlyArray<TestNode>, expected: number, timeoutMs = 60_000) => {
  let last: unknown
  let states: Array<any> = []
  await waitFor(
    "the cluster to balance",
    async () => {
      states = await Promise.all(nodes.map((n) => readyz(n).catch(() => undefined)))
      last = states.map((s) => s?.cluster && { node: s.cluster.node, live: s.cluster.live.length, held: s.cluster.shardsHeld })
      // Balanced: every node sees the same members, and holds exactly the shards that
      // rendezvous hashing gives it over them (so hand-overs to a new node have happened).
      const live: ReadonlyArray<string> = states[0]?.cluster?.live ?? []
      return (
        live.length === expected &&
        states.every((s) => s?.cluster?.live?.join() === live.join()) &&
        states.every((s) => s.cluster.shardsHeld === shardsOf(s.cluster.node, [...live].sort(), SHARDS).length)
      )
    },
    { timeoutMs, intervalMs: 200, describe: () => last }
  )
  return states
}

/** The node that rendezvous hashing makes the owner of `room` among `ids`. */
export const ownerNode = (room: string, ids: ReadonlyArray<string>) => ownerOf(shardOf(room, SHARDS), [...ids].sort())

export const createGroup = async (node: TestNode, token: string, members: string[]) => {
  const r = await fetch(`${node.url}/v1/rooms`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ kind: "group", name: "cluster", members })
  })
  if (r.status !== 201) throw new Error(`create room ${r.status}: ${await r.text()}`)
  return (await r.json()).id as string
}

/**
 * `count` new group rooms whose shard `owner` holds (room ids hash to shards, so rooms are
 * created through `via` until enough land on the owner). Tests that kill or pause a node use it
 * to put their rooms on that node.
 */
export const roomsOwnedBy = async (
  owner: string,
  count: number,
  via: TestNode,
  token: string,
  ids: ReadonlyArray<string>
): Promise<Array<string>> => {
  const rooms: Array<string> = []
  while (rooms.length < count) {
    const room = await createGroup(via, token, [])
    if (ownerNode(room, ids) === owner) rooms.push(room)
  }
  return rooms
}

/**
 * A client that sends `count` messages one after another to `room`, each retried with the
 * same clientMsgId until acked (through reconnects to any live node), and records acks.
 */
export const steadySender = (opts: {
  readonly nodes: () => ReadonlyArray<TestNode>
  readonly token: string
  readonly room: string
  readonly prefix: string
  readonly count: number
  readonly deadlineMs: number
  /** Fired on every ack, for `waitFor(..., { on: progress })`. */
  readonly progress?: Signal
}) => {
  const acks: Array<{ clientMsgId: string; seq: number; at: number }> = []
  const done = (async () => {
    let client: TestClient | undefined
    let n = 0
    const deadline = Date.now() + opts.deadlineMs
    for (let i = 1; i <= opts.count; i++) {
      const clientMsgId = `${opts.prefix}-${i}`
      while (true) {
        if (Date.now() > deadline) throw new Error(`sender ${opts.prefix} did not finish (at ${i})`)
        try {
          if (client === undefined) {
            const live = opts.nodes()
            client = await connect(live[n++ % live.length].wsUrl, opts.token)
          }
          const reply = await client.request({ type: "send", room: opts.room, clientMsgId, body: clientMsgId }, 5_000)
          if (reply.type === "ack") {
            acks.push({ clientMsgId, seq: reply.seq, at: Date.now() })
            opts.progress?.fire()
            break
          }
          // Both mean "retry with the same clientMsgId" (docs/errors.md).
          if (reply.code !== "unavailable" && reply.code !== "timeout") throw new Error(`unexpected reply ${JSON.stringify(reply)}`)
        } catch (e) {
          if (e instanceof Error && e.message.startsWith("unexpected reply")) throw e
          client?.close()
          client = undefined
        }
      }
    }
    client?.close()
  })()
  return { acks, done }
}

/** Every message row of a room, straight from PostgreSQL. */
export const storedMessages = async (dbUrl: string, room: string) => {
  const nc = (await import("postgres")).default(dbUrl, { max: 1 })
  try {
    const rows = await nc`SELECT seq::int AS seq, client_msg_id FROM messages WHERE room_id = ${room} ORDER BY seq`
    // Every seq of the room: a message is its own message.created event (no events row).
    const events = await nc`
      SELECT seq::int AS seq FROM events WHERE room_id = ${room} AND kind <> 'message.created'
      UNION ALL SELECT seq::int FROM messages WHERE room_id = ${room}
      ORDER BY seq`
    return { messages: rows as unknown as Array<{ seq: number; client_msg_id: string }>, eventSeqs: events.map((e: any) => e.seq as number) }
  } finally {
    await nc.end()
  }
}

export const natsClient = (url: string) => natsConnect({ servers: url })
