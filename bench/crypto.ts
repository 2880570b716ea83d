/**
 * Micro-benchmark of encryption at rest: message bodies through src/crypto/body.ts and the
 * store decorator (src/crypto/EncryptedStore.ts) over the in-memory store, so only the crypto and
 * the decorator's own work are timed. Runs on both runtimes:
 *
 *   node --import tsx bench/crypto.ts [--bodies 20000] [--size 100] [--postgres-url URL]
 *   ./node_modules/.bin/deno run --allow-all bench/crypto.ts
 *
 * Reports ops/s (higher is better) for:
 * - encrypt / decrypt: one body at a time, one Effect per body (the per-call cost);
 * - encrypt+decrypt: a round trip of one body, the figure the issue quotes;
 * - commit 100: one store commit of 100 sends through the decorator (encrypts 100 bodies);
 * - history 50: one history page of 50 through the decorator (decrypts 50 bodies).
 *
 * With `--postgres-url` (a database it may migrate and write to), also one commit of 100
 * sends to PostgreSQL, plain and through the encryption decorator, alternately: the cost
 * encryption adds to a real commit.
 */
import { Effect, Option } from "effect"
import { decryptBody, encryptBody } from "../src/crypto/body.ts"
import * as KeyRing from "../src/crypto/KeyRing.ts"
import type { Role, RoomId, UserId } from "../core/model.ts"
import { withEncryption } from "../src/crypto/EncryptedStore.ts"
import { makeMemoryStore } from "../storage/memory/MemoryStore.ts"
import type { WriteOp } from "../core/ops.ts"

const argv: ReadonlyArray<string> =
  (globalThis as { Deno?: { args: ReadonlyArray<string> } }).Deno?.args ??
  (globalThis as { process?: { argv: ReadonlyArray<string> } }).process?.argv ??
  []
const text = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined
}
const arg = (name: string, fallback: number): number => Number(text(name) ?? fallback)

const BODIES = arg("bodies", 20_000)
const SIZE = arg("size", 100)
const ROOM = "0b4e3f4c-1d8c-4a3e-9a53-6a2b7c1fbe00" as RoomId
const ALICE = "alice" as UserId
const runtime = (globalThis as { Deno?: { version: { deno: string } } }).Deno
  ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : `node ${(globalThis as unknown as { process: { version: string } }).process.version}`

/** Runs `f` `n` times after a warm-up of n/10; answers operations per second. */
const rate = async (n: number, perRun: number, f: () => Promise<unknown>): Promise<number> => {
  for (let i = 0; i < Math.max(1, Math.floor(n / 10)); i++) await f()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await f()
  const s = (performance.now() - t0) / 1000
  return Math.round((n * perRun) / s)
}

const line = (name: string, opsPerS: number, unit = "ops/s") =>
  console.log(`${name.padEnd(28)} ${String(opsPerS).padStart(9)} ${unit}  (${(1e6 / opsPerS).toFixed(1)} µs each)`)

const main = Effect.gen(function* () {
  const ring = yield* KeyRing.make({ current: globalThis.crypto.getRandomValues(new Uint8Array(32)) })
  const { key } = yield* ring.newDataKey(ROOM)
  const body = "x".repeat(SIZE)
  const sealed = yield* encryptBody(key, ROOM, body)
  return { ring, key, body, sealed }
})

const { ring, key, body, sealed } = await Effect.runPromise(main)
console.log(`bench/crypto: ${runtime}, ${SIZE}-byte bodies, ${BODIES} per measurement`)

line("encrypt", await rate(BODIES, 1, () => Effect.runPromise(encryptBody(key, ROOM, body))))
line("decrypt", await rate(BODIES, 1, () => Effect.runPromise(decryptBody(key, ROOM, sealed))))
line(
  "encrypt+decrypt",
  await rate(BODIES, 1, () =>
    Effect.runPromise(Effect.flatMap(encryptBody(key, ROOM, body), (ct) => decryptBody(key, ROOM, ct)))
  )
)

// Through the decorator: the room, its key and 1000 messages are made once, untimed.
const store = withEncryption(makeMemoryStore(), ring)
const members = new Map<UserId, Role>([[ALICE, "owner"]])
await Effect.runPromise(store.createGroupRoom({ id: ROOM, name: "bench", owner: ALICE, members: [] }))
let sent = 0
const sends = (n: number): Array<WriteOp> =>
  Array.from({ length: n }, () => ({
    _tag: "Send" as const,
    actor: ALICE,
    messageId: crypto.randomUUID(),
    clientMsgId: `c${sent++}`,
    body
  }))
const commits = Math.max(10, Math.floor(BODIES / 100))
for (let i = 0; i < 10; i++) await Effect.runPromise(store.commit(ROOM, 1, members, sends(100)))
line("commit 100 (bodies/s)", await rate(commits, 100, () => Effect.runPromise(store.commit(ROOM, 1, members, sends(100)))), "bodies/s")
const head = Option.getOrThrow(await Effect.runPromise(store.loadRoom(ROOM)))
const pages = Math.max(10, Math.floor(BODIES / 50))
let p = 0
line(
  "history 50 (bodies/s)",
  await rate(pages, 50, () => {
    // Pages across the first 1000 messages, so every page is full.
    const before = 60 + ((p++ * 37) % 900)
    return Effect.runPromise(store.history(ROOM, Math.min(before, head.room.lastSeq), 50))
  }),
  "bodies/s"
)

const postgresUrl = text("postgres-url")
if (postgresUrl !== undefined) {
  // Imported here: the default run needs neither PostgreSQL nor node:fs (migrations).
  const { makePostgresStore } = await import("../storage/postgres/PostgresStore.ts")
  const { loadMigrations } = await import("../storage/sql/migrations.node.ts")
  const { Scope, Exit } = await import("effect")
  const scope = Effect.runSync(Scope.make())
  const plain = await Effect.runPromise(
    Scope.extend(makePostgresStore({ url: postgresUrl, poolSize: 2, migrations: loadMigrations() }), scope)
  )
  const sealed = withEncryption(plain, ring)
  const pgRoom = crypto.randomUUID() as RoomId
  await Effect.runPromise(plain.createGroupRoom({ id: pgRoom, name: "bench crypto", owner: ALICE, members: [] }))
  const rounds = Math.max(20, Math.floor(BODIES / 500))
  const times = { plain: [] as Array<number>, encrypted: [] as Array<number> }
  for (let i = 0; i < rounds + 5; i++) {
    for (const [name, s] of [["plain", plain], ["encrypted", sealed]] as const) {
      const t0 = performance.now()
      await Effect.runPromise(s.commit(pgRoom, 1, members, sends(100)))
      if (i >= 5) times[name].push(performance.now() - t0)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1)
  console.log(`commit of 100 sends to PostgreSQL, median of ${rounds}: plain ${median(times.plain)} ms, encrypted ${median(times.encrypted)} ms`)
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
