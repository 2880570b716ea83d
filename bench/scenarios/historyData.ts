/**
 * Fills a room with M messages through this project's own write path minus the actor and
 * the socket: the store's `commit` (the same SQL the room actor runs, in big batches) under
 * the encryption layer, with the bench's master key, so the server later reads exactly what
 * it would have written itself: encrypted bodies, gapless seqs, idempotency keys.
 */
import { Effect, Option, Redacted } from "effect"
import { join } from "node:path"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import { uuidv7 } from "../../src/util/uuid.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { withEncryption } from "../../src/crypto/EncryptedStore.ts"
import type { WriteOp } from "../../core/ops.ts"
import { makePgliteStore } from "../../storage/pglite/PgliteStore.ts"
import { makePostgresStore } from "../../storage/postgres/PostgresStore.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { BENCH_MASTER_KEY_HEX } from "../lib/servers.ts"

export const HISTORY_WRITER = "history.writer"
export const HISTORY_READER = "history.reader"

export interface HistoryRoom {
  readonly room: string
  /** Seqs of the messages: firstSeq..lastSeq, one message each. */
  readonly firstSeq: number
  readonly lastSeq: number
  readonly loadS: number
}

export type HistoryTarget = { readonly store: "postgres"; readonly url: string } | { readonly store: "pglite"; readonly dataDir: string }

const fill = (store: ChatStore, messages: number, batch: number, onProgress: (done: number) => void) =>
  Effect.gen(function* () {
    const ring = yield* KeyRing.makeFromText({ current: Redacted.make(BENCH_MASTER_KEY_HEX) })
    const enc = withEncryption(store, ring)
    const writer = HISTORY_WRITER as UserId
    const created = yield* enc.createGroupRoom({
      id: uuidv7() as RoomId,
      name: "history",
      owner: writer,
      members: [HISTORY_READER as UserId]
    })
    const head = Option.getOrThrow(yield* enc.loadRoom(created.id))
    let done = 0
    let nextReport = 0
    while (done < messages) {
      const n = Math.min(batch, messages - done)
      const ops: Array<WriteOp> = Array.from({ length: n }, (_, i) => ({
        _tag: "Send",
        actor: writer,
        messageId: uuidv7(),
        clientMsgId: `h${done + i}`,
        body: `history message ${done + i}: ${"lorem ipsum dolor sit amet ".repeat(3)}`
      }))
      const results = yield* enc.commit(created.id, head.epoch, head.members, ops)
      const rejected = results.find((r) => r._tag !== "Committed")
      if (rejected !== undefined) return yield* Effect.dieMessage(`history load: a send was not committed: ${JSON.stringify(rejected)}`)
      done += n
      if (done >= nextReport) {
        onProgress(done)
        nextReport += Math.max(batch, Math.floor(messages / 10))
      }
    }
    const after = Option.getOrThrow(yield* enc.loadRoom(created.id))
    return { room: created.id as string, lastSeq: after.room.lastSeq, firstSeq: after.room.lastSeq - messages + 1 }
  })

export const loadHistory = async (
  target: HistoryTarget,
  messages: number,
  batch: number,
  onProgress: (done: number) => void
): Promise<HistoryRoom> => {
  const t0 = performance.now()
  const migrations = loadMigrations()
  const store =
    target.store === "postgres"
      ? makePostgresStore({ url: target.url, poolSize: 2, migrations })
      : makePgliteStore({ dataDir: join(target.dataDir, "pglite"), migrations })
  const r = await Effect.runPromise(Effect.scoped(Effect.flatMap(store, (s) => fill(s, messages, batch, onProgress))))
  return { ...r, loadS: Math.round(performance.now() - t0) / 1000 }
}
