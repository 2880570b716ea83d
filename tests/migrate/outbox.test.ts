/**
 * Dual-write while ScyllaDB is down: every write still commits on PostgreSQL, the copies queue
 * in the outbox, and once ScyllaDB is back the replay fiber drains the outbox and verify finds
 * both sides equal.
 *
 * "ScyllaDB down" is a CqlClient over the real session that fails every call while `down` is
 * set: stopping the run's shared Cassandra would break the other test files, and starting one
 * of its own costs 10 to 30 s. To the dual store the two look the same, a StoreError from each
 * call, which is how cassandra-driver's NoHostAvailableError reaches it through CqlClient.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Option, Stream } from "effect"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import { StoreError } from "../../core/errors.ts"
import type { UserId } from "../../core/model.ts"
import { makeDualStore } from "../../storage/dual/DualStore.ts"
import { withEncryption } from "../../src/crypto/EncryptedStore.ts"
import { verify } from "../../storage/migrate/verify.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { type CqlClient, makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { applySchema } from "../../storage/scylla/schema.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { cassandraContactPoint, scopedKeyspace } from "../support/cassandraKeyspace.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"
import { fill } from "./fill.ts"

const unreachable = (operation: string) =>
  Effect.fail(new StoreError({ operation, cause: new Error("All host(s) tried for query failed (simulated outage)") }))

const switchable = (cql: CqlClient, down: { value: boolean }): CqlClient => ({
  rows: (op, q, p, o) => (down.value ? unreachable(op) : cql.rows(op, q, p, o)),
  allRows: (op, q, p, o) => (down.value ? unreachable(op) : cql.allRows(op, q, p, o)),
  write: (op, s) => (down.value ? unreachable(op) : cql.write(op, s)),
  lwt: (op, s) => (down.value ? unreachable(op) : cql.lwt(op, s)),
  ddl: (op, q) => (down.value ? unreachable(op) : cql.ddl(op, q))
})

/** A CqlClient whose every call waits until `gate` opens: ScyllaDB hanging, not failing. */
const gated = (cql: CqlClient, gate: Deferred.Deferred<void>): CqlClient => ({
  rows: (op, q, p, o) => Effect.zipRight(Deferred.await(gate), cql.rows(op, q, p, o)),
  allRows: (op, q, p, o) => Effect.zipRight(Deferred.await(gate), cql.allRows(op, q, p, o)),
  write: (op, s) => Effect.zipRight(Deferred.await(gate), cql.write(op, s)),
  lwt: (op, s) => Effect.zipRight(Deferred.await(gate), cql.lwt(op, s)),
  ddl: (op, q) => Effect.zipRight(Deferred.await(gate), cql.ddl(op, q))
})

/** A fresh PostgreSQL database (migrated) and a fresh keyspace on the run's Cassandra. */
const freshStores = Effect.gen(function* () {
  const url = yield* scopedDatabase
  const keyspace = yield* scopedKeyspace
  const db = yield* makePostgresDatabase({ url, poolSize: 8 })
  yield* migrate(db, loadMigrations())
  const cql = yield* makeCqlClient({ contactPoints: [cassandraContactPoint()], localDc: "datacenter1", consistency: "ONE" })
  yield* applySchema(cql, keyspace, loadSchemaCql())
  return { db, cql }
})

describe("dual-write outbox", () => {
  it.live("outbox - writes succeed on PostgreSQL while ScyllaDB fails, queue in the outbox, and drain once it is back", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { db, cql } = yield* freshStores
        const ring = yield* KeyRing.make({ current: new Uint8Array(32).fill(0x11) })

        const down = { value: true }
        const flaky = switchable(cql, down)
        const dual = yield* makeDualStore({
          db,
          primary: makeSqlStore(db, "postgres"),
          secondary: makeScyllaStoreOn(flaky),
          cql: flaky,
          read: "postgres",
          // The copy made before the acknowledgement, falling back to the outbox (the async
          // mode, where every copy goes through the outbox, is the next test).
          copy: "sync",
          retryBaseMs: 20,
          retryMaxMs: 200
        })
        const store = withEncryption(dual, ring)

        const filled = yield* fill(store, [30, 120, 250])
        const who = `eve-${crypto.randomUUID().slice(0, 6)}` as UserId
        yield* store.registerDevice(who, "tok-eve", "webpush")

        // Every write committed on PostgreSQL; nothing reached ScyllaDB; all of it is queued.
        const postgres = withEncryption(makeSqlStore(db, "postgres"), ring)
        const scylla = withEncryption(makeScyllaStoreOn(cql), ring)
        for (const room of filled.rooms) {
          expect(Option.isSome(yield* postgres.loadRoom(room))).toBe(true)
          expect(Option.isNone(yield* scylla.loadRoom(room))).toBe(true)
        }
        const queued = yield* dual.outbox.count
        expect(queued).toBeGreaterThan(filled.rooms.length)
        const [failedOnce] = yield* Effect.promise(() =>
          db.query("SELECT count(*) AS n FROM dual_outbox WHERE last_error LIKE '%simulated outage%'")
        )
        expect(Number(failedOnce.n)).toBeGreaterThan(0)

        // ScyllaDB is back: the replay fiber (retrying with backoff all along) empties the outbox.
        down.value = false
        yield* dual.outbox.wake
        yield* dual.outbox.pending.changes.pipe(Stream.filter((n) => n === 0), Stream.take(1), Stream.runDrain)
        expect(yield* dual.outbox.count).toBe(0)

        const report = yield* verify({ db, cql, postgres, scylla, samplePerRoom: 1000 })
        expect(report.mismatches).toEqual([])
        expect(report.sampled).toBe(filled.messages)
        expect((yield* scylla.listDevices(who)).map((d) => d.token)).toEqual(["tok-eve"])

        // Writes after the outage are copied at once again.
        yield* store.registerDevice(who, "tok-eve-2", "fcm")
        expect(yield* dual.outbox.count).toBe(0)
        expect((yield* scylla.listDevices(who)).map((d) => d.token).sort()).toEqual(["tok-eve", "tok-eve-2"])
      })
    ),
    120_000
  )

  it.live("async copy (reads from PostgreSQL): writes are acknowledged while ScyllaDB hangs, each copy is in the outbox by then, and all reach ScyllaDB once it answers", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { db, cql } = yield* freshStores
        const ring = yield* KeyRing.make({ current: new Uint8Array(32).fill(0x33) })

        const gate = yield* Deferred.make<void>()
        const hanging = gated(cql, gate)
        // No `copy` option: reads from PostgreSQL make it async.
        const dual = yield* makeDualStore({
          db,
          primary: makeSqlStore(db, "postgres"),
          secondary: makeScyllaStoreOn(hanging),
          cql: hanging,
          read: "postgres"
        })
        const store = withEncryption(dual, ring)

        // Every call returns although no ScyllaDB call can finish: nothing waits for the copy.
        const filled = yield* fill(store, [20, 130])
        const who = `fay-${crypto.randomUUID().slice(0, 6)}` as UserId
        yield* store.registerDevice(who, "tok-fay", "apns")
        // ... and what to copy is already durable in PostgreSQL (rooms, devices).
        const [byStream] = yield* Effect.promise(() =>
          db.query(
            "SELECT count(DISTINCT stream) AS n FROM dual_outbox WHERE stream = ANY($1::text[])",
            [[...filled.rooms.map((r) => `room:${r}`), `devices:${who}`]]
          )
        )
        expect(Number(byStream.n)).toBe(filled.rooms.length + 1)
        const postgres = withEncryption(makeSqlStore(db, "postgres"), ring)
        const scylla = withEncryption(makeScyllaStoreOn(cql), ring)
        for (const room of filled.rooms) expect(Option.isNone(yield* scylla.loadRoom(room))).toBe(true)

        // ScyllaDB answers again: the replay fiber copies everything, merged per room.
        yield* Deferred.succeed(gate, undefined)
        yield* dual.outbox.wake
        yield* dual.outbox.pending.changes.pipe(Stream.filter((n) => n === 0), Stream.take(1), Stream.runDrain)
        expect(yield* dual.outbox.count).toBe(0)
        const report = yield* verify({ db, cql, postgres, scylla, samplePerRoom: 1000 })
        expect(report.mismatches).toEqual([])
        expect(report.sampled).toBe(filled.messages)
        expect((yield* scylla.listDevices(who)).map((d) => d.token)).toEqual(["tok-fay"])
      })
    ),
    120_000
  )
})
