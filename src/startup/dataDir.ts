/**
 * The data directory: created when missing (parents included) with mode 0700, since it
 * holds the database, the generated JWT secret and the master key; and held by this
 * process alone while PGlite lives in it (./DataDirLock.ts).
 */
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Data, Effect, Option, type Scope } from "effect"
import type { ChatConfig } from "../config/ChatConfig.ts"
import { type DataDirLocked, type DataDirLockError, type DataDirLocker, holdDataDir } from "./DataDirLock.ts"

export class DataDirError extends Data.TaggedError("DataDirError")<{
  readonly dir: string
  readonly action: string
  readonly cause: PlatformError
}> {
  override get message() {
    return `CHAT_DATA_DIR ${this.dir}: cannot ${this.action}: ${this.cause.message}`
  }
}

/** Subdirectory of the data dir holding PGlite's files (storage/select.ts opens it). */
export const PGLITE_DIR = "pglite"

const OWNER_ONLY = 0o700

/**
 * Creates `dir` (and missing parents) with mode 0700 when it does not exist. An existing
 * directory that others may write to is narrowed to 0700; one they may only read is left
 * as the operator made it (its key files are 0600 on their own).
 */
export const ensurePrivateDir = (dir: string): Effect.Effect<void, DataDirError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const fail = (action: string) => (cause: PlatformError) => new DataDirError({ dir, action, cause })
    const info = yield* fs.stat(dir).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(Option.none())),
      Effect.mapError(fail("read its status"))
    )
    if (Option.isNone(info)) {
      yield* fs.makeDirectory(dir, { recursive: true, mode: OWNER_ONLY }).pipe(Effect.mapError(fail("create it")))
      // mkdir's mode passes through the umask, which can only narrow it; chmod makes it exact.
      yield* fs.chmod(dir, OWNER_ONLY).pipe(Effect.mapError(fail("set its mode to 0700")))
    } else if ((info.value.mode & 0o022) !== 0) {
      yield* fs.chmod(dir, OWNER_ONLY).pipe(Effect.mapError(fail("set its mode to 0700")))
    }
  })

/**
 * Before the store opens: with PGlite, the data dir and its pglite/ directory exist, owner
 * only, and this process holds the directory for the life of the scope.
 */
export const prepareDataDir = (
  config: ChatConfig
): Effect.Effect<void, DataDirError | DataDirLocked | DataDirLockError, Scope.Scope | FileSystem.FileSystem | Path.Path | DataDirLocker> =>
  Effect.gen(function* () {
    if (config.store !== "pglite") return
    const path = yield* Path.Path
    yield* ensurePrivateDir(config.dataDir)
    yield* holdDataDir(config)
    yield* ensurePrivateDir(path.join(config.dataDir, PGLITE_DIR))
  })
