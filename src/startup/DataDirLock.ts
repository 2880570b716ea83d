/**
 * One process per data directory. Two processes on one PGlite directory would both serve,
 * hand out the same seq for different messages and lose each other's acknowledged writes;
 * the second one must refuse to start instead.
 *
 * The lock is an OS object that dies with its holder, so a crash (kill -9) never leaves it
 * held: a Unix-domain socket listening at `<dataDir>/chat.lock`. Node has no flock(2), and
 * Deno's `FsFile.lock` has no Node counterpart; a listening socket works the same on both
 * runtimes (Deno through its `node:net`), and a Node and a Deno process exclude each other.
 * See src/platform/dataDirLock.ts for the mechanics; this module is the runtime-free part.
 */
import { Context, Data, Effect, type Scope } from "effect"
import type { ChatConfig } from "../config/ChatConfig.ts"

/** The data directory is held by another live process. */
export class DataDirLocked extends Data.TaggedError("DataDirLocked")<{
  readonly dir: string
  readonly pid: string
}> {
  override get message() {
    return `CHAT_DATA_DIR ${this.dir} is in use by another chat process (pid ${this.pid}); stop it, or give this one its own CHAT_DATA_DIR`
  }
}

/** The lock could not be taken or checked for another reason (permissions, path too long). */
export class DataDirLockError extends Data.TaggedError("DataDirLockError")<{
  readonly dir: string
  readonly reason: string
}> {
  override get message() {
    return `CHAT_DATA_DIR ${this.dir}: cannot take the data directory lock: ${this.reason}`
  }
}

export interface LockAttempt {
  readonly _tag: "Acquired" | "Held"
  /** Held: the holder's pid as it reported it. */
  readonly pid?: string
  /** Acquired: releases the lock (closes the socket, removes its file). */
  readonly release?: () => Promise<void>
}

/** The runtime adapter: take the lock at `dir`, or say who holds it. */
export class DataDirLocker extends Context.Tag("chat/DataDirLocker")<
  DataDirLocker,
  { readonly tryLock: (dir: string) => Promise<LockAttempt> }
>() {}

/** Holds `dir` for the life of the scope; fails with DataDirLocked naming the holder. */
export const holdDir = (dir: string): Effect.Effect<void, DataDirLocked | DataDirLockError, Scope.Scope | DataDirLocker> =>
  Effect.gen(function* () {
    const locker = yield* DataDirLocker
    const attempt = yield* Effect.tryPromise({
      try: () => locker.tryLock(dir),
      catch: (e) => new DataDirLockError({ dir, reason: e instanceof Error ? e.message : String(e) })
    })
    if (attempt._tag === "Held" || attempt.release === undefined) {
      return yield* new DataDirLocked({ dir, pid: attempt.pid ?? "unknown" })
    }
    const release = attempt.release
    yield* Effect.addFinalizer(() => Effect.promise(() => release().catch(() => undefined)))
  })

/**
 * The data directory is this process's alone while it uses it for the database (PGlite).
 * With a shared store (postgres, scylla, dual) it only holds generated secrets, which any
 * number of processes may read (they are created exclusively), so no lock is taken.
 */
export const holdDataDir = (config: ChatConfig): Effect.Effect<void, DataDirLocked | DataDirLockError, Scope.Scope | DataDirLocker> =>
  config.store === "pglite" ? holdDir(config.dataDir) : Effect.void
