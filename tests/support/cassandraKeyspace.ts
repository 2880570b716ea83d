/**
 * A keyspace of its own for a test file (or test), on the run's CQL server (./cassandra.ts,
 * ./globalSetup.ts), dropped afterwards. Test-side only: it reads the contact point that
 * globalSetup provided.
 */
import { Effect, type Scope } from "effect"
import cassandra from "cassandra-driver"
import { inject } from "vitest"

export const cassandraContactPoint = (): string => inject("cassandraContactPoint")

/** A fresh, unused keyspace name (the store creates it). */
export const freshKeyspace = (): string => `chat_test_${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`

export const dropKeyspace = async (keyspace: string): Promise<void> => {
  const client = new cassandra.Client({ contactPoints: [cassandraContactPoint()], localDataCenter: "datacenter1" })
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`)
  } finally {
    await client.shutdown()
  }
}

/** A keyspace name for the life of the scope; the keyspace is dropped when the scope closes. */
export const scopedKeyspace: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(freshKeyspace),
  (keyspace) => Effect.promise(() => dropKeyspace(keyspace))
)
