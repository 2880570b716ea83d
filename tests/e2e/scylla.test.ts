/** The end-to-end chat suite on CHAT_STORE=scylla: an in-process node on a keyspace of its own. */
import { afterAll } from "vitest"
import { chatSuite } from "./chat.suite.ts"
import { cassandraContactPoint, dropKeyspace, freshKeyspace } from "../support/cassandraKeyspace.ts"
import { startInProcess } from "../support/node.ts"

const keyspace = freshKeyspace()

afterAll(() => dropKeyspace(keyspace), 60_000)

chatSuite("in-process, ScyllaDB", async () =>
  startInProcess({
    store: "scylla",
    scyllaContactPoints: [cassandraContactPoint()],
    scyllaKeyspace: keyspace,
    // The test keyspace has one replica.
    scyllaConsistency: "ONE"
  })
)
