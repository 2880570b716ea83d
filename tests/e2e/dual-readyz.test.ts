/**
 * CHAT_STORE=dual: /readyz reports ScyllaDB on its own. The node reaches Cassandra through
 * a TCP relay in this test; closing the relay is a real outage of ScyllaDB for this node
 * (the shared Cassandra keeps running for everyone else).
 */
import { Option, Redacted } from "effect"
import { connect, createServer, type Server, type Socket } from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import { cassandraContactPoint, dropKeyspace, freshKeyspace } from "../support/cassandraKeyspace.ts"
import { dropDatabase, freshDatabase } from "../support/freshDatabase.ts"
import { startInProcess } from "../support/node.ts"

const relay = (target: string): Promise<{ server: Server; address: string; cut: () => Promise<void> }> => {
  const [host, port] = target.split(":")
  const sockets = new Set<Socket>()
  const server = createServer((inbound) => {
    const outbound = connect(Number(port || 9042), host)
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on("error", () => undefined)
      s.on("close", () => sockets.delete(s))
    }
    inbound.pipe(outbound).pipe(inbound)
  })
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        server,
        address: `127.0.0.1:${(server.address() as { port: number }).port}`,
        cut: () =>
          new Promise<void>((r) => {
            server.close(() => r())
            for (const s of sockets) s.destroy()
          })
      })
    )
  )
}

describe("readyz - dual store", () => {
  const keyspace = freshKeyspace()
  let dbUrl: string | undefined
  afterAll(async () => {
    await dropKeyspace(keyspace)
    if (dbUrl !== undefined) await dropDatabase(dbUrl)
  }, 60_000)

  it("readyz - with CHAT_STORE=dual a failing ScyllaDB is reported as store:scylla (degraded while reads come from PostgreSQL)", async () => {
    dbUrl = await freshDatabase()
    const cql = await relay(cassandraContactPoint())
    const node = await startInProcess({
      store: "dual",
      postgresUrl: Option.some(Redacted.make(dbUrl)),
      scyllaContactPoints: [cql.address],
      scyllaKeyspace: keyspace,
      scyllaConsistency: "ONE"
    })
    try {
      const before = await (await fetch(`${node.url}/readyz`)).json()
      expect(before.checks["store:scylla"]).toBe("ok")
      await cql.cut()
      const r = await fetch(`${node.url}/readyz`)
      const after = await r.json()
      expect(after.checks["store:scylla"]).toMatch(/^degraded: failing: ScyllaDB[: ].+; writes wait in the outbox$/)
      // PostgreSQL answers the reads and takes every write first: the node stays in service.
      expect(r.status).toBe(200)
      expect(after.checks["store:dual"]).toBe("ok")
    } finally {
      await node.close()
    }
  }, 180_000)
})
