/**
 * vitest globalSetup: starts the services the test run needs, once, and hands their
 * addresses to the tests (`inject`). One module per service under tests/support/; add a
 * service by starting it here and declaring what it provides below. Each honours its
 * CHAT_TEST_*_URL variable (use that server, start nothing).
 */
import type { TestProject } from "vitest/node"
import { cassandraForRun } from "./cassandra.ts"
import { natsForRun } from "./nats.ts"
import { startPostgres } from "./postgres.ts"
import { redisForRun } from "./redis.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of the run's PostgreSQL server; tests take their own database (freshDatabase.ts). */
    postgresUrl: string
    /** The run's NATS server (JetStream on); tests use their own subject prefix and bucket names. */
    natsUrl: string
    /** The run's Redis server; tests use their own key prefix. Tests that stop Redis start their own (redis.ts). */
    redisUrl: string
    /** The run's CQL server (Cassandra standing in for ScyllaDB), host:port; tests use their own keyspace (cassandraKeyspace.ts). */
    cassandraContactPoint: string
  }
}

export default async function setup(project: TestProject) {
  // Started side by side: each is a separate process, and the run waits for the slowest.
  const started = await Promise.allSettled([startPostgres(), natsForRun(), redisForRun(), cassandraForRun()] as const)
  const stops = started.flatMap((s) => (s.status === "fulfilled" ? [s.value.stop] : []))
  const stopAll = async () => {
    await Promise.allSettled(stops.map((stop) => stop()))
  }
  const [pg, nats, redis, cql] = started
  if (pg.status === "rejected" || nats.status === "rejected" || redis.status === "rejected" || cql.status === "rejected") {
    await stopAll()
    const reasons = started.flatMap((s) => (s.status === "rejected" ? [s.reason] : []))
    throw reasons.length === 1 ? reasons[0] : new AggregateError(reasons, "test services failed to start")
  }
  project.provide("postgresUrl", pg.value.url)
  project.provide("natsUrl", nats.value.url)
  project.provide("redisUrl", redis.value.url)
  project.provide("cassandraContactPoint", cql.value.contactPoint)
  return stopAll
}
