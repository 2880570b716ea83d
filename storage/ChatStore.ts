/**
 * The store contract: every operation the protocol needs, with its errors named.
 * Implementations: memory (./memory), PostgreSQL (./postgres), PGlite (./pglite); all run
 * the one contract suite in tests/contract. Bodies cross this interface as the store keeps
 * them: the encryption layer (./encrypted.ts) wraps a store so that callers above it see
 * plaintext and the store below it sees only ciphertext.
 */
import { Cause, Context, type Effect, Exit, Option, Runtime } from "effect"
import type { Fenced, StoreError } from "../core/errors.ts"
import type {
  ChatEvent,
  Device,
  Message,
  Platform,
  Role,
  Room,
  RoomId,
  RoomKind,
  RoomSummary,
  UserId
} from "../core/model.ts"
import type { OpResult, WriteOp } from "../core/ops.ts"
import type { PushQueue } from "./PushQueue.ts"

/** A commit that died (a bug, not a database answer): the actor restarts, as for a failure. */
export class CommitDefect {
  readonly _tag = "CommitDefect"
  constructor(readonly cause: Cause.Cause<unknown>) {}
}

/** How `commitNow` answers: an error, or the results in op order. */
/** How `historyNow` answers: an error, or the page. */
export type HistoryDone = (error: StoreError | undefined, page?: HistoryPage) => void

export type CommitDone = (error: StoreError | Fenced | CommitDefect | undefined, results?: ReadonlyArray<OpResult>) => void

/**
 * The store's `commitNow`, or its `commit` run to a callback (in `runtime`, so the caller's
 * services and clock apply) for stores that have no plain form.
 */
export const commitNowOf = (store: ChatStore, runtime: Runtime.Runtime<never>): NonNullable<ChatStore["commitNow"]> => {
  if (store.commitNow !== undefined) return store.commitNow
  const run = Runtime.runCallback(runtime)
  return (room, epoch, members, ops, shard, done) =>
    void run(store.commit(room, epoch, members, ops, shard), { onExit: (exit) => answerCommitExit(exit, done) })
}

/** A commit's Exit as `commitNow` answers it. */
export const answerCommitExit = (exit: Exit.Exit<ReadonlyArray<OpResult>, StoreError | Fenced>, done: CommitDone): void => {
  if (Exit.isSuccess(exit)) return done(undefined, exit.value)
  const failure = Cause.failureOption(exit.cause)
  done(Option.isSome(failure) ? failure.value : new CommitDefect(exit.cause))
}

/** What a room actor needs to start: the room, its members by user, and the fencing epoch. */
export interface RoomHead {
  readonly room: Room
  readonly members: ReadonlyMap<UserId, Role>
  readonly epoch: number
}

export interface Membership {
  readonly role: Role
  readonly readSeq: number
  readonly pinned: boolean
}

export interface HistoryPage {
  readonly messages: ReadonlyArray<Message>
  readonly hasMore: boolean
}

export interface RoomPage {
  readonly rooms: ReadonlyArray<RoomSummary>
  readonly nextCursor?: string
}

/** A room's data key, wrapped by the master key `masterKeyId`. */
export interface WrappedRoomKey {
  readonly room: RoomId
  readonly keyId: string
  readonly masterKeyId: string
  readonly wrapped: string
  readonly createdAt: string
}

export interface NewGroupRoom {
  readonly id: RoomId
  readonly name: string
  readonly owner: UserId
  readonly members: ReadonlyArray<UserId>
}

/**
 * The outcome of a markRead. `marked` counts the messages with previous < seq <= `seq` (the
 * position before and after this call) that the reader did not send and that are not
 * deleted: exactly the messages that stopped counting as `unread`. 0 when the position did
 * not move, and for non-members (whose `seq` is 0). ScyllaDB caps it like unread counts
 * (10 000), and two concurrent marks by one user in one room may both count the messages
 * they both passed; PostgreSQL and PGlite lock the member's row, so each message is counted
 * by one call only.
 */
export interface ReadMark {
  readonly seq: number
  readonly marked: number
}

/** Who a room's push notifications could reach: its members now and their devices. */
export interface PushAudience {
  /** In join order (then user id), as `loadRoom` lists them. */
  readonly members: ReadonlyArray<UserId>
  /** The members' devices: member by member in `members` order, each member's as `listDevices` orders them. */
  readonly devices: ReadonlyArray<Device>
}

export interface ChatStore {
  /** Store name for metrics and /readyz ("pglite", "postgres", "memory", ...). */
  readonly name: string
  readonly ping: Effect.Effect<void, StoreError>

  readonly createGroupRoom: (input: NewGroupRoom) => Effect.Effect<Room, StoreError>
  /** The one direct room of the pair; `created` is true for the caller that made it. */
  readonly findOrCreateDirectRoom: (
    a: UserId,
    b: UserId,
    newId: RoomId
  ) => Effect.Effect<{ readonly room: Room; readonly created: boolean }, StoreError>
  readonly loadRoom: (room: RoomId) => Effect.Effect<Option.Option<RoomHead>, StoreError>
  readonly getMembership: (room: RoomId, user: UserId) => Effect.Effect<Option.Option<Membership>, StoreError>

  /**
   * Commit a batch of writes atomically, in order, assigning the next seqs. Fails with
   * Fenced when `epoch` is older than the room's (this writer lost ownership) and commits
   * nothing. `members` is the caller's view of the room's members (the actor owns it).
   * With `shard` (clustered mode), the epoch must also be at least the shard's fence
   * (see fenceShard), checked under a lock that fenceShard waits for.
   */
  readonly commit: (
    room: RoomId,
    epoch: number,
    members: ReadonlyMap<UserId, Role>,
    ops: ReadonlyArray<WriteOp>,
    shard?: number
  ) => Effect.Effect<ReadonlyArray<OpResult>, StoreError | Fenced>

  /**
   * `commit` as plain code, for the room actor's hot path: the same batch, the same rules and
   * errors, answered by calling `done` exactly once (possibly before this returns). Present on
   * stores whose commit is a Promise underneath (SQL) and on the wrappers that pass it through;
   * absent elsewhere, where the actor runs `commit`. It exists because the actor commits one
   * batch per room per turn: at a thousand rooms with a message each, an Effect per batch is
   * an Effect per message (docs/architecture.md, "the path of a message").
   * The results are the caller's: made for this call and kept by nobody else, so a wrapper
   * may change them in place (the encryption layer puts the plaintext bodies back).
   */
  readonly commitNow?: (
    room: RoomId,
    epoch: number,
    members: ReadonlyMap<UserId, Role>,
    ops: ReadonlyArray<WriteOp>,
    shard: number | undefined,
    done: CommitDone
  ) => void

  /**
   * `commitNow` for a batch whose ops are made when the store writes them: `prepare` answers
   * the ops, and a store that writes many rooms' batches together (the SQL group commit) calls
   * it for each batch of a group right before the group's statement. The encryption layer
   * seals bodies there, so that a group's bodies are sealed back to back: sealed one at a time
   * between other work, as each frame arrived, a 100-byte body cost our node ~27 µs of CPU at
   * 1,000 msg/s (perf, cpu-clock); the same AES-GCM calls in a loop cost ~4 µs each.
   *
   * The store gets the ops only from `prepare` (no plaintext is handed to it otherwise), may
   * call it more than once (a retry) and gets the same ops each time. A `prepare` that throws
   * fails its own batch with what it threw (a StoreError) or a StoreError around it, writing
   * nothing of it; the other batches of the group go on. Present on the SQL store and on the
   * wrappers that pass it through; a caller falls back to `commitNow` where it is absent.
   */
  readonly commitPreparedNow?: (
    room: RoomId,
    epoch: number,
    members: ReadonlyMap<UserId, Role>,
    shard: number | undefined,
    prepare: () => ReadonlyArray<WriteOp>,
    done: CommitDone
  ) => void

  /**
   * A new shard owner raises the shard's fence to its epoch before it serves the shard:
   * from then on, commits for the shard's rooms with an older epoch fail Fenced, and any
   * such commit already in flight finishes first. Fails Fenced (writing nothing) when the
   * fence is already higher: a newer owner exists.
   */
  readonly fenceShard: (shard: number, epoch: number) => Effect.Effect<void, StoreError | Fenced>

  /** Events with after < seq <= upTo, ascending, at most `limit`. Message events carry the message's current state. */
  readonly events: (
    room: RoomId,
    after: number,
    upTo: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ChatEvent>, StoreError>
  /** Messages with seq < before (all when absent), newest first. */
  readonly history: (room: RoomId, before: number | undefined, limit: number) => Effect.Effect<HistoryPage, StoreError>
  /**
   * `history` as plain code, for the REST history page: the same page and errors, answered by
   * calling `done` exactly once (possibly before this returns). The page and its messages are
   * new objects the caller owns (a wrapper may replace a message's body in place). Present
   * where history is a Promise underneath (SQL) and on the wrappers that pass it through;
   * absent elsewhere, where callers run `history`. A page is one request, not one message,
   * but an Effect per store wrapper per page was a fifth of its CPU (docs/architecture.md).
   */
  readonly historyNow?: (room: RoomId, before: number | undefined, limit: number, done: HistoryDone) => void
  /** The caller's rooms, pinned first, then by last activity; keyset cursor. */
  readonly listRooms: (user: UserId, cursor: string | undefined, limit: number) => Effect.Effect<RoomPage, StoreError>

  /**
   * Moves the read position forward only (and never past the room's last seq); answers the
   * position now stored and how many messages this call marked as read (ReadMark).
   */
  readonly markRead: (room: RoomId, user: UserId, seq: number) => Effect.Effect<ReadMark, StoreError>
  readonly setPinned: (room: RoomId, user: UserId, pinned: boolean) => Effect.Effect<void, StoreError>

  readonly registerDevice: (user: UserId, token: string, platform: Platform) => Effect.Effect<void, StoreError>
  /** False when the user had no such device. */
  readonly unregisterDevice: (user: UserId, token: string) => Effect.Effect<boolean, StoreError>
  readonly listDevices: (user: UserId) => Effect.Effect<ReadonlyArray<Device>, StoreError>
  /**
   * The push worker's question for one claim (src/push/PushWorker.ts): per room, its members
   * and their devices. A room that does not exist (any more) has no entry. The SQL stores
   * answer with one statement for any number of rooms, so a claim whose rooms have nobody to
   * notify, the common case, costs the same few statements however many rooms it holds.
   *
   * It is a ChatStore operation, not a PushQueue one, because it reads the chat's own rows
   * (rooms, members, devices) in place of the `loadRoom` and `listDevices` calls the worker
   * made per room: like them it is timed (chat_query_duration_seconds), guarded by the
   * circuit breaker, and read from the primary in dual-write mode. PushQueue stays the queue.
   */
  readonly pushAudience: (rooms: ReadonlyArray<RoomId>) => Effect.Effect<ReadonlyMap<RoomId, PushAudience>, StoreError>

  readonly roomKeys: (room: RoomId) => Effect.Effect<ReadonlyArray<WrappedRoomKey>, StoreError>
  /** Inserts the key unless the room already has one; answers the room's keys after. */
  readonly addRoomKey: (key: WrappedRoomKey) => Effect.Effect<ReadonlyArray<WrappedRoomKey>, StoreError>
  readonly allRoomKeys: Effect.Effect<ReadonlyArray<WrappedRoomKey>, StoreError>
  readonly rewrapRoomKey: (key: WrappedRoomKey) => Effect.Effect<void, StoreError>

  /** Push intents, written by `commit` for batches that create messages (./PushQueue.ts). */
  readonly push: PushQueue
}

export class ChatStoreTag extends Context.Tag("chat/ChatStore")<ChatStoreTag, ChatStore>() {}

export type { RoomKind }
