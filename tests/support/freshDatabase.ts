/**
 * One database per test, on the run's PostgreSQL server (see ./postgres.ts, ./globalSetup.ts).
 * Test-side only: it reads the server URL that globalSetup provided.
 */
import { Effect, type Scope } from "effect"
import postgres from "postgres"
import { inject } from "vitest"

const admin = async <A>(f: (sql: postgres.Sql) => Promise<A>): Promise<A> => {
  const sql = postgres(inject("postgresUrl"), { max: 1, onnotice: () => {} })
  try {
    return await f(sql)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

const nameOf = (url: string) => new URL(url).pathname.slice(1)

/** Creates a new, empty, uniquely named database and answers its URL. */
export const freshDatabase = async (): Promise<string> => {
  const name = `chat_test_${crypto.randomUUID().replace(/-/g, "")}`
  await admin((sql) => sql.unsafe(`CREATE DATABASE "${name}"`))
  const url = new URL(inject("postgresUrl"))
  url.pathname = `/${name}`
  return url.toString()
}

/** Drops it, closing whatever connections are left. */
export const dropDatabase = (url: string): Promise<void> =>
  admin(async (sql) => {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${nameOf(url)}" WITH (FORCE)`)
  })

/** A fresh database for the life of the scope. */
export const scopedDatabase: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(freshDatabase),
  (url) => Effect.promise(() => dropDatabase(url))
)
