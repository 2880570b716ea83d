/**
 * The operator CLI (`npm run chat -- <command>`, `deno task chat <command>`). Commands are
 * runtime-free Effects; src/cli/main.node.ts and main.deno.ts only provide the platform.
 */
import { Console, Data, Effect, Option, Redacted } from "effect"
import type { FileSystem, Path } from "@effect/platform"
import { Terminal } from "@effect/platform"
import { signToken } from "../auth/Auth.ts"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import { prepareDataDir } from "../startup/dataDir.ts"
import type { DataDirLocker } from "../startup/DataDirLock.ts"
import * as KeyRing from "../crypto/KeyRing.ts"
import { makeConfiguredStore } from "../store/select.ts"
import { rotateMasterKey } from "../crypto/rotate.ts"
import { withEncryption } from "../crypto/EncryptedStore.ts"
import { backfill } from "../../storage/migrate/backfill.ts"
import { formatProgress } from "../../storage/migrate/progress.ts"
import { formatReport, verify } from "../../storage/migrate/verify.ts"
import { makePostgresDatabase } from "../../storage/postgres/PostgresStore.ts"
import { makeCqlClient } from "../../storage/scylla/CqlClient.ts"
import { applySchema } from "../../storage/scylla/schema.ts"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { makeScyllaStoreOn } from "../../storage/scylla/ScyllaStore.ts"
import { migrate as migrateSql } from "../../storage/sql/migrate.ts"
import { loadMigrations } from "../../storage/sql/migrations.node.ts"
import { makeSqlStore } from "../../storage/sql/SqlStore.ts"
import { pushWorkerCommand, vapidPublicKeyCommand } from "../push/cli.ts"
import type { Http2Client } from "../push/Http2.ts"
import type { StoreError } from "../../core/errors.ts"
import type { CryptoError, InvalidMasterKey } from "../crypto/errors.ts"
import type { PushConfigError } from "../push/configure.ts"
import type { RedisError } from "../redis/RedisClient.ts"
import type { DataDirLocked, DataDirLockError } from "../startup/DataDirLock.ts"
import type { DataDirError } from "../startup/dataDir.ts"

export const usage = `usage: chat <command>

commands:
  token <user> [--ttl <span>]   print an HS256 token for <user> (span like 24h, 7d; default 24h)
  rotate-master-key             re-wrap every room key under CHAT_MASTER_KEY; the previous
                                key(s) go in CHAT_MASTER_KEYS_OLD for the run
  migrate --from postgres --to scylla [--stop-after-rooms <n>] [--rooms-at-once <n>]
                                copy everything from CHAT_POSTGRES_URL to CHAT_SCYLLA_*;
                                resumable (run it again after an interruption) and idempotent
  verify [--sample <n>]         compare PostgreSQL and ScyllaDB per room (counts, and <n>
                                messages per room after decryption, default 20); exits 1 on
                                any mismatch
  push-worker                   deliver push notifications from the store's queue until
                                stopped (docs/push.md)
  vapid-public-key              print the Web Push public key the web app subscribes with
  help                          this text`

/** Every error a CLI command can end with, each tagged; src/cli/main.*.ts word them. */
export type CliError =
  | UsageError
  | VerifyFailed
  | StoreError
  | CryptoError
  | InvalidMasterKey
  | PushConfigError
  | RedisError
  | DataDirLocked
  | DataDirLockError
  | DataDirError

export class UsageError {
  readonly _tag = "UsageError"
  constructor(readonly message: string) {}
}

const token = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const user = args[0]
    if (user === undefined || user.length === 0 || user.length > 128) {
      return yield* Effect.fail(new UsageError("token needs a user name of 1..128 characters"))
    }
    const ttlAt = args.indexOf("--ttl")
    const ttl = ttlAt >= 0 ? args[ttlAt + 1] : undefined
    const config = yield* ChatConfigTag
    const secrets = yield* Secrets
    if (Option.isNone(secrets.jwtSecret)) {
      return yield* Effect.fail(
        new UsageError("no HS256 secret: tokens come from your identity provider when CHAT_JWKS_URL or CHAT_JWT_PUBLIC_KEY is set")
      )
    }
    const jwt = yield* signToken(secrets.jwtSecret.value, user, {
      ...(ttl !== undefined ? { expiresIn: ttl } : {}),
      ...(Option.isSome(config.jwtIssuer) ? { issuer: config.jwtIssuer.value } : {}),
      ...(Option.isSome(config.jwtAudience) ? { audience: config.jwtAudience.value } : {})
    })
    // The token is the command's output, printed for the operator who asked for it; it is never logged.
    yield* Console.log(jwt)
  })

const rotate = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  const secrets = yield* Secrets
  const ring = yield* KeyRing.make({
    current: Redacted.value(secrets.masterKey),
    old: secrets.oldMasterKeys.map(Redacted.value)
  })
  // The store is opened: with PGlite, only while no server (or other command) holds the directory.
  yield* prepareDataDir(config)
  const store = yield* makeConfiguredStore(config)
  const report = yield* rotateMasterKey(store, ring)
  yield* Console.log(
    `rotated: ${report.rewrapped} room keys re-wrapped, ${report.alreadyCurrent} already under the current master key (${ring.currentMasterKeyId})`
  )
})

/** `--name <n>`: a positive integer, or absent. */
const intFlag = (args: ReadonlyArray<string>, name: string) =>
  Effect.gen(function* () {
    const at = args.indexOf(name)
    if (at < 0) return undefined
    const n = Number(args[at + 1])
    if (!Number.isInteger(n) || n < 1) return yield* Effect.fail(new UsageError(`${name} needs a positive integer`))
    return n
  })

/** Both databases of a migration, from CHAT_POSTGRES_URL and CHAT_SCYLLA_* (schemas applied). */
const openBoth = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  if (Option.isNone(config.postgresUrl)) return yield* Effect.fail(new UsageError("CHAT_POSTGRES_URL is not set"))
  if (config.scyllaContactPoints.length === 0) return yield* Effect.fail(new UsageError("CHAT_SCYLLA_CONTACT_POINTS is not set"))
  const db = yield* makePostgresDatabase({ url: config.postgresUrl.value, poolSize: config.postgresPool })
  yield* migrateSql(db, loadMigrations())
  const cql = yield* makeCqlClient({
    contactPoints: config.scyllaContactPoints,
    localDc: config.scyllaLocalDc,
    consistency: config.scyllaConsistency
  })
  yield* applySchema(cql, config.scyllaKeyspace, loadSchemaCql())
  return { db, cql }
})

const migrateCommand = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const from = args[args.indexOf("--from") + 1]
    const to = args[args.indexOf("--to") + 1]
    if (!args.includes("--from") || !args.includes("--to") || from !== "postgres" || to !== "scylla") {
      return yield* Effect.fail(new UsageError("migrate supports --from postgres --to scylla"))
    }
    const stopAfterRooms = yield* intFlag(args, "--stop-after-rooms")
    const concurrency = yield* intFlag(args, "--rooms-at-once")
    const { db, cql } = yield* openBoth
    // A redrawn progress line on a terminal; plain lines (at most one per 5 s) otherwise.
    const terminal = yield* Effect.serviceOption(Terminal.Terminal)
    const tty = Option.isSome(terminal) ? yield* terminal.value.isTTY : false
    let lastLine = 0
    const onProgress = (p: Parameters<typeof formatProgress>[0]) =>
      tty && Option.isSome(terminal)
        ? Effect.ignore(terminal.value.display(`\r${formatProgress(p, true)}\u001b[K`))
        : p.now - lastLine >= 5000 || p.roomsDone === p.roomsTotal
          ? Effect.sync(() => (lastLine = p.now)).pipe(Effect.zipRight(Console.log(`migrate: ${formatProgress(p, false)}`)))
          : Effect.void
    const report = yield* backfill({
      db,
      cql,
      onProgress,
      ...(stopAfterRooms !== undefined ? { stopAfterRooms } : {}),
      ...(concurrency !== undefined ? { concurrency } : {})
    })
    if (tty) yield* Console.log("")
    yield* Console.log(
      `migrate: ${report.complete ? "done" : "stopped early (run again to continue)"}: ${report.rooms} rooms, ` +
        `${report.messages} messages, ${report.roomKeys} room keys, devices of ${report.deviceUsers} users copied`
    )
  })

/** The report is printed first; this only makes the exit code non-zero. */
export class VerifyFailed extends Data.TaggedError("VerifyFailed")<{ readonly mismatches: number }> {
  override get message() {
    return `verify found ${this.mismatches} mismatches`
  }
}

const verifyCommand = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const samplePerRoom = (yield* intFlag(args, "--sample")) ?? 20
    const secrets = yield* Secrets
    const ring = yield* KeyRing.make({
      current: Redacted.value(secrets.masterKey),
      old: secrets.oldMasterKeys.map(Redacted.value)
    })
    const { db, cql } = yield* openBoth
    const report = yield* verify({
      db,
      cql,
      postgres: withEncryption(makeSqlStore(db, "postgres"), ring),
      scylla: withEncryption(makeScyllaStoreOn(cql), ring),
      samplePerRoom
    })
    yield* Console.log(formatReport(report))
    if (report.mismatches.length > 0) return yield* Effect.fail(new VerifyFailed({ mismatches: report.mismatches.length }))
  })

export const runCommand = (
  argv: ReadonlyArray<string>,
  platform?: { readonly makeHttp2Client: () => Http2Client }
): Effect.Effect<void, CliError, ChatConfigTag | Secrets | FileSystem.FileSystem | Path.Path | DataDirLocker> => {
  const [command, ...args] = argv
  switch (command) {
    case "push-worker":
      return Effect.gen(function* () {
        const config = yield* ChatConfigTag
        // PGlite belongs to the one node process holding the data dir: its worker runs in it.
        if (config.store === "pglite") {
          return yield* Effect.fail(new UsageError(
            "push-worker needs a shared store (CHAT_STORE=postgres|scylla|dual); with pglite the node runs the worker itself (CHAT_PUSH_WORKER=node)"
          ))
        }
        if (platform === undefined) return yield* Effect.fail(new UsageError("push-worker needs an HTTP/2 client"))
        return yield* pushWorkerCommand(platform.makeHttp2Client)
      })
    case "vapid-public-key":
      return vapidPublicKeyCommand
    case "token":
      return token(args)
    case "rotate-master-key":
      return Effect.scoped(rotate)
    case "migrate":
      return Effect.scoped(migrateCommand(args))
    case "verify":
      return Effect.scoped(verifyCommand(args))
    case undefined:
    case "help":
    case "--help":
      return Console.log(usage)
    default:
      return Effect.fail(new UsageError(`unknown command: ${command}\n\n${usage}`))
  }
}

