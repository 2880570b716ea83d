/**
 * Dual-write across a real outage: a Cassandra of this test's own is stopped while writes
 * go on, then started again on the same port and data directory. Writes keep succeeding
 * on PostgreSQL, the copies queue in the durable outbox, and once Cassandra answers again
 * the outbox drains and verify finds both sides equal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startCassandra, type RunningCassandra } from "../../scripts/cassandra/server.ts"
import { freePort } from "../support/ports.ts"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import { makeDualStore } from "../../storage/dual/DualStore.ts"
import { withEncryption } from "../../src/crypto/EncryptedStore.ts"
import { verify } from "../../storage/migrate/verify.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { applySchema } from "../../storage/scylla/schema.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"
import { fill } from "./fill.ts"

describe("dual-write outbox - real outage", () => {
  it.live("outbox - Cassandra stopped during writes: PostgreSQL keeps committing, the outbox drains after the restart, verify is clean", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dataDir = mkdtempSync(join(tmpdir(), "chat-cassandra-outage-"))
        const nativePort = yield* Effect.promise(() => freePort())
        let server: RunningCassandra = yield* Effect.promise(() => startCassandra({ dataDir, nativePort, heap: "768m" }))
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            await server.stop()
            rmSync(dataDir, { recursive: true, force: true })
          })
        )
        const url = yield* scopedDatabase
        const db = yield* makePostgresDatabase({ url, poolSize: 8 })
        yield* migrate(db, loadMigrations())
        const cql = yield* makeCqlClient({ contactPoints: [server.contactPoint], localDc: "datacenter1", consistency: "ONE" })
        const keyspace = `outage_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`
        yield* applySchema(cql, keyspace, loadSchemaCql())
        const ring = yield* KeyRing.make({ current: new Uint8Array(32).fill(0x22) })
        const dual = yield* makeDualStore({
          db,
          primary: makeSqlStore(db, "postgres"),
          secondary: makeScyllaStoreOn(cql),
          cql,
          read: "postgres",
          retryBaseMs: 100,
          retryMaxMs: 1_000
        })
        const store = withEncryption(dual, ring)
        const postgres = withEncryption(makeSqlStore(db, "postgres"), ring)
        const scylla = withEncryption(makeScyllaStoreOn(cql), ring)

        yield* Effect.promise(() => server.stop())
        const filled = yield* fill(store, [15, 40])
        for (const room of filled.rooms) expect(Option.isSome(yield* postgres.loadRoom(room))).toBe(true)
        expect(yield* dual.outbox.count).toBeGreaterThan(0)

        server = yield* Effect.promise(() => startCassandra({ dataDir, nativePort, heap: "768m" }))
        yield* dual.outbox.wake
        yield* dual.outbox.pending.changes.pipe(Stream.filter((n) => n === 0), Stream.take(1), Stream.runDrain)
        expect(yield* dual.outbox.count).toBe(0)
        const report = yield* verify({ db, cql, postgres, scylla, samplePerRoom: 1000 })
        expect(report.mismatches).toEqual([])
        expect(report.sampled).toBe(filled.messages)
      })
    ),
  300_000)
})
