/**
 * vitest globalSetup: starts the services the test run needs, once, and hands their
 * addresses to the tests (`inject`). One module per service under tests/support/; add a
 * service by starting it here and declaring what it provides below.
 */
import type { TestProject } from "vitest/node"
import { startPostgres } from "./postgres.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of the run's PostgreSQL server; tests take their own database (freshDatabase.ts). */
    postgresUrl: string
  }
}

export default async function setup(project: TestProject) {
  const stops: Array<() => Promise<void>> = []
  try {
    const pg = await startPostgres()
    stops.push(pg.stop)
    project.provide("postgresUrl", pg.url)
  } catch (e) {
    for (const stop of stops.reverse()) await stop()
    throw e
  }
  return async () => {
    for (const stop of stops.reverse()) await stop()
  }
}
