/**
 * Backfill and verify against the run's PostgreSQL and Cassandra (a fresh database and keyspace
 * for the file): a few thousand encrypted messages are copied in three runs (stopped after some
 * rooms, then interrupted inside a room, then finished), a fourth run copies nothing new, and
 * verify compares both sides after decryption. A row corrupted in Cassandra afterwards makes
 * `npm run chat -- verify` report it and exit non-zero.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import { withEncryption } from "../../src/crypto/EncryptedStore.ts"
import { backfill } from "../../storage/migrate/backfill.ts"
import { verify } from "../../storage/migrate/verify.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { bucketOf } from "../../storage/scylla/buckets.ts"
import { makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { applySchema } from "../../storage/scylla/schema.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { cassandraContactPoint, scopedKeyspace } from "../support/cassandraKeyspace.ts"
import { scopedDatabase } from "../support/freshDatabase.ts"
import { runCli, TEST_MASTER_KEY } from "../support/node.ts"
import { fill } from "./fill.ts"

/** Eleven small rooms, then one of 1500 messages (two buckets, three chunks) that sorts last. */
const SIZES = [...Array.from({ length: 11 }, (_, i) => 40 + i * 10), 1500]

describe("migration", () => {
  it.live(
    "backfill - resumes after being stopped and interrupted, copies nothing twice, and verify then finds a corrupted row",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const url = yield* scopedDatabase
          const keyspace = yield* scopedKeyspace
          const db = yield* makePostgresDatabase({ url, poolSize: 8 })
          yield* migrate(db, loadMigrations())
          const cql = yield* makeCqlClient({ contactPoints: [cassandraContactPoint()], localDc: "datacenter1", consistency: "ONE" })
          yield* applySchema(cql, keyspace, loadSchemaCql())
          const ring = yield* KeyRing.make({ current: new Uint8Array(32).fill(0x11) })
          const postgres = withEncryption(makeSqlStore(db, "postgres"), ring)
          const scylla = withEncryption(makeScyllaStoreOn(cql), ring)

          const filled = yield* fill(postgres, SIZES)
          expect(filled.messages).toBe(SIZES.reduce((a, b) => a + b, 0))
          const big = filled.rooms[filled.rooms.length - 1]

          // Run 1: stopped (resumably) after six rooms.
          const first = yield* backfill({ db, cql, stopAfterRooms: 6 })
          expect(first).toMatchObject({ rooms: 6, complete: false, roomKeys: 12, deviceUsers: 2 })

          // Run 2: interrupted inside the big room, once its first chunk is checkpointed.
          // Rooms go one at a time in id order, so progress after all the others is the big room's.
          const inBigRoom = yield* Deferred.make<void>()
          let smallRoomsDoneAt: number | undefined
          const second = yield* Effect.fork(
            backfill({
              db,
              cql,
              concurrency: 1,
              onProgress: (p) => {
                if (p.roomsDone < p.roomsTotal - 1) return Effect.void
                if (smallRoomsDoneAt === undefined) smallRoomsDoneAt = p.messagesDone
                return p.messagesDone > smallRoomsDoneAt ? Deferred.succeed(inBigRoom, undefined) : Effect.void
              }
            })
          )
          yield* Deferred.await(inBigRoom)
          yield* Fiber.interrupt(second)
          const [checkpoint] = yield* Effect.promise(() =>
            db.query("SELECT synced_seq, done FROM migration_checkpoints WHERE room_id = $1::uuid", [big])
          )
          expect(checkpoint.done).toBe(false)
          expect(Number(checkpoint.synced_seq)).toBeGreaterThan(0)
          expect(Number(checkpoint.synced_seq)).toBeLessThan(1501)

          // Run 3 finishes from the checkpoints; run 4 finds everything copied.
          const third = yield* backfill({ db, cql })
          expect(third.complete).toBe(true)
          expect(third.messages).toBeLessThan(filled.messages)
          const fourth = yield* backfill({ db, cql })
          expect(fourth).toMatchObject({ rooms: 12, messages: 0, complete: true })

          const report = yield* verify({ db, cql, postgres, scylla, samplePerRoom: 2000 })
          expect(report.mismatches).toEqual([])
          expect(report.rooms).toBe(12)
          expect(report.sampled).toBe(filled.messages)

          // What ScyllaDB now answers through the store matches PostgreSQL beyond the sample too.
          const [pgEvents, scEvents] = yield* Effect.all([
            postgres.events(big, 0, 10_000, 10_000),
            scylla.events(big, 0, 10_000, 10_000)
          ])
          expect(scEvents.length).toBeGreaterThan(1500)
          expect(scEvents).toEqual(pgEvents)

          // The CLI, as an operator runs it (output is plain lines: stdout is not a TTY).
          const dataDir = mkdtempSync(join(tmpdir(), "chat-verify-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
          const env = {
            CHAT_POSTGRES_URL: url,
            CHAT_SCYLLA_CONTACT_POINTS: cassandraContactPoint(),
            CHAT_SCYLLA_KEYSPACE: keyspace,
            CHAT_SCYLLA_CONSISTENCY: "ONE",
            CHAT_MASTER_KEY: TEST_MASTER_KEY,
            CHAT_DATA_DIR: dataDir
          }
          const migrated = yield* Effect.promise(() => runCli(["migrate", "--from", "postgres", "--to", "scylla"], env))
          expect(migrated.code).toBe(0)
          expect(migrated.stdout).toMatch(/migrate: done: 12 rooms, 0 messages/)
          const clean = yield* Effect.promise(() => runCli(["verify"], env))
          expect(clean.stdout).toContain("0 mismatches")
          expect(clean.code).toBe(0)

          // Corrupt one message's sender directly in Cassandra.
          const seq = 1200
          yield* cql.write("test", [
            {
              query: "UPDATE messages_by_room SET sender = 'mallory' WHERE room_id = ? AND bucket = ? AND seq = ?",
              params: [big, bucketOf(seq), seq]
            }
          ])
          const direct = yield* verify({ db, cql, postgres, scylla, samplePerRoom: 2000, rooms: [big] })
          expect(direct.mismatches).toEqual([
            expect.objectContaining({ room: big, what: "message 1200: sender", scylla: 'sender="mallory"' })
          ])
          const dirty = yield* Effect.promise(() => runCli(["verify", "--sample", "2000"], env))
          expect(dirty.code).not.toBe(0)
          expect(dirty.stdout).toContain(`room ${big}: message 1200: sender`)
          // Reports name rooms, seqs and fields, never a body.
          for (const body of filled.bodies) expect(dirty.stdout + dirty.stderr).not.toContain(body)
        })
      ),
    300_000
  )
})
