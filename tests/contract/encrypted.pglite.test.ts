import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import { withEncryption } from "../../src/crypto/EncryptedStore.ts"
import { openPglite, pgliteDatabase } from "../../storage/pglite/PgliteStore.ts"
import { migrate } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { rotateMasterKey } from "../../src/crypto/rotate.ts"
import type { ChatStore, HistoryPage } from "../../storage/ChatStore.ts"
import type { StoreError } from "../../core/errors.ts"

const ALICE = "alice" as UserId
const BOB = "bob" as UserId
const ROOM = "7d1c9f60-3a5e-4b8f-9c2d-0e1f2a3b4c5d" as RoomId
const MEMBERS = new Map<UserId, Role>([
  [ALICE, "owner"],
  [BOB, "member"]
])
const PLAINTEXT = "the launch code is 0000"

const newMasterKey = () => globalThis.crypto.getRandomValues(new Uint8Array(32))

/** A fresh in-memory PGlite per test, migrated, with the SqlStore over it and raw SQL access. */
const openDatabase = Effect.gen(function* () {
  const db = pgliteDatabase(yield* openPglite({}))
  yield* migrate(db, loadMigrations())
  const store = makeSqlStore(db, "pglite")
  yield* store.createGroupRoom({ id: ROOM, name: "secrets", owner: ALICE, members: [BOB] })
  return { db, store }
})

/** `historyNow` of `store` as an Effect (its error as the failure). */
const historyNow = (store: ChatStore, before: number | undefined, limit: number) =>
  Effect.async<HistoryPage, StoreError>((resume) =>
    store.historyNow!(ROOM, before, limit, (error, page) => resume(error !== undefined ? Effect.fail(error) : Effect.succeed(page!)))
  )

describe("encrypted store - pglite", () => {
  it.scoped("historyNow - opens a page with its key unopened and opened, like history, and refuses a body moved to another message", () =>
    Effect.gen(function* () {
      const { db, store } = yield* openDatabase
      const ring = yield* KeyRing.make({ current: newMasterKey() })
      const ops = ["one", "two", "three"].map((body, i) => ({
        _tag: "Send" as const,
        actor: ALICE,
        messageId: crypto.randomUUID(),
        clientMsgId: `c${i}`,
        body
      }))
      yield* withEncryption(store, ring).commit(ROOM, 0, MEMBERS, ops)
      // A new decorator: no data key opened yet, so the first page opens through the key ring.
      const reader = withEncryption(store, ring)
      const cold = yield* historyNow(reader, undefined, 10)
      expect(cold.messages.map((m) => m.body)).toEqual(["three", "two", "one"])
      expect(cold).toEqual(yield* reader.history(ROOM, undefined, 10))
      const warm = yield* historyNow(reader, 3, 10)
      expect(warm.messages.map((m) => m.body)).toEqual(["two", "one"])
      expect(warm.hasMore).toBe(false)
      // Message 1's sealed body copied into message 2's row: bound to message 1, it must not open there.
      yield* Effect.promise(() =>
        db.query("UPDATE messages SET body = (SELECT body FROM messages WHERE room_id = $1::uuid AND seq = 1) WHERE room_id = $1::uuid AND seq = 2", [ROOM])
      )
      const refused = yield* Effect.flip(historyNow(reader, undefined, 10))
      expect(refused).toMatchObject({ _tag: "StoreError", operation: "decrypt" })
      expect(yield* Effect.flip(reader.history(ROOM, undefined, 10))).toMatchObject({ _tag: "StoreError", operation: "decrypt" })
    }))

  it.scoped(
    "stores no plaintext body in the messages table, and reads it back through the decorator",
    () =>
      Effect.gen(function* () {
        const { db, store } = yield* openDatabase
        const ring = yield* KeyRing.make({ current: newMasterKey() })
        const encrypted = withEncryption(store, ring)
        const [result] = yield* encrypted.commit(ROOM, 0, MEMBERS, [
          {
            _tag: "Send",
            actor: ALICE,
            messageId: "11111111-2222-4333-8444-555555555555",
            clientMsgId: "c1",
            body: PLAINTEXT
          }
        ])
        expect(result._tag).toBe("Committed")

        const rows = yield* Effect.promise(() => db.query("SELECT body FROM messages WHERE room_id = $1::uuid", [ROOM]))
        expect(rows).toHaveLength(1)
        const stored = String(rows[0].body)
        expect(stored).toMatch(/^v2\.[0-9a-f]{16}\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/)
        expect(stored).not.toContain("launch")
        // Every row of both tables (a send writes no events row: the message is its own event).
        const everything = JSON.stringify([
          yield* Effect.promise(() => db.query("SELECT * FROM messages")),
          yield* Effect.promise(() => db.query("SELECT * FROM events"))
        ])
        expect(everything).not.toContain("launch")

        const [key] = yield* Effect.promise(() => db.query("SELECT key_id, master_key_id FROM room_keys"))
        expect(key).toMatchObject({ key_id: stored.split(".")[1], master_key_id: ring.currentMasterKeyId })

        const page = yield* encrypted.history(ROOM, undefined, 10)
        expect(page.messages.map((m) => m.body)).toEqual([PLAINTEXT])
        const [event] = yield* encrypted.events(ROOM, 0, 10, 10)
        expect(event.data).toMatchObject({ body: PLAINTEXT })
      }),
    60_000
  )

  it.scoped(
    "keeps messages readable after a master key rotation with only the new key",
    () =>
      Effect.gen(function* () {
        const { db, store } = yield* openDatabase
        const oldMaster = newMasterKey()
        const newMaster = newMasterKey()
        const before = withEncryption(store, yield* KeyRing.make({ current: oldMaster }))
        yield* before.commit(ROOM, 0, MEMBERS, [
          { _tag: "Send", actor: BOB, messageId: "21111111-2222-4333-8444-555555555555", clientMsgId: "c1", body: "old" }
        ])
        const bodies = () => Effect.promise(() => db.query("SELECT body FROM messages ORDER BY seq"))
        const storedBefore = yield* bodies()

        const rotating = yield* KeyRing.make({ current: newMaster, old: [oldMaster] })
        expect(yield* rotateMasterKey(store, rotating)).toEqual({ rewrapped: 1, alreadyCurrent: 0 })
        expect(yield* rotateMasterKey(store, rotating)).toEqual({ rewrapped: 0, alreadyCurrent: 1 })
        expect(yield* bodies()).toEqual(storedBefore)

        const after = withEncryption(store, yield* KeyRing.make({ current: newMaster }))
        expect((yield* after.history(ROOM, undefined, 10)).messages.map((m) => m.body)).toEqual(["old"])
      }),
    60_000
  )
})
