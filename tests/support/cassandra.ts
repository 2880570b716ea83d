/**
 * The run's CQL server, started by globalSetup (scripts/cassandra/server.ts: Apache Cassandra
 * standing in for ScyllaDB). With CHAT_TEST_CASSANDRA=host:port, that server is used instead
 * and nothing is started.
 */
import { startCassandra } from "../../scripts/cassandra/server.ts"

export interface RunningCql {
  /** host:port */
  readonly contactPoint: string
  readonly stop: () => Promise<void>
}

export const cassandraForRun = async (): Promise<RunningCql> => {
  const external = process.env.CHAT_TEST_CASSANDRA
  if (external !== undefined && external !== "") return { contactPoint: external, stop: async () => {} }
  const server = await startCassandra({
    heap: "1g",
    // First use downloads Cassandra; say so, since the run waits for it.
    log: (line) => console.log(`[cassandra] ${line}`)
  })
  return { contactPoint: server.contactPoint, stop: server.stop }
}
