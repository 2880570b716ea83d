/**
 * Dual-write (CHAT_STORE=dual): PostgreSQL is the source of truth, ScyllaDB a copy that follows
 * it, for the move from one to the other (README, "Migrating from PostgreSQL to ScyllaDB").
 *
 * Writes go to PostgreSQL; once it has committed, the same change is copied to ScyllaDB through
 * the import path the backfill uses (storage/migrate/sync.ts): a commit copies the seqs it
 * produced, exactly as PostgreSQL numbered them, with the messages, reactions and members they
 * touched. ScyllaDB never plans a batch of its own here, so both sides hold the same seqs.
 *
 * When the copy is made depends on where reads come from (`copy`):
 * - reads from PostgreSQL (the default, while the copy is being built and checked): the write
 *   is acknowledged once PostgreSQL committed and its copy is recorded in PostgreSQL's outbox
 *   (./outbox.ts, one INSERT); a background fiber copies from there. Nobody reads ScyllaDB yet,
 *   so nobody waits for it: a commit costs PostgreSQL's latency plus one statement, not a
 *   round of ScyllaDB writes, and consecutive copies of a busy room merge into one. The entry
 *   is durable before the acknowledgement, so a node that dies in between leaves the copy to
 *   whichever node replays next.
 * - reads from ScyllaDB: the copy is made before the write is acknowledged, so a client reads
 *   its own writes there.
 * Either way a copy that fails (or, made at once, takes longer than `copyTimeoutMs`) never
 * fails the caller's write, which is committed: it waits in the outbox and is retried by the
 * background fiber, with capped exponential backoff, until it succeeds. While a stream (a room,
 * a user's devices, ...) has entries in the outbox, its new changes queue behind them, so each
 * stream is copied in order.
 *
 * Reads come from the side `read` names (CHAT_DUAL_READ) with one exception: `loadRoom`, which
 * the room actor uses to start writing, always reads PostgreSQL, the store it writes to (a
 * lagging copy must not hand the writer an old epoch or member list).
 */
import { Duration, Effect, Queue, type Scope, SubscriptionRef } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import type { ChatStore } from "../ChatStore.ts"
import { readDevices, readRoomKeys } from "../migrate/source.ts"
import { syncMembers, syncRoom, type SyncTarget } from "../migrate/sync.ts"
import type { CqlClient } from "../scylla/CqlClient.ts"
import { importDevices, importRoomKeys } from "../scylla/mirror.ts"
import { makeWriteClock } from "../scylla/writeClock.ts"
import type { SqlDatabase } from "../sql/SqlClient.ts"
import { describeFailure, makeOutbox, type OutboxOp, streamOf } from "./outbox.ts"

export type DualRead = "postgres" | "scylla"

export interface DualOptions {
  /** PostgreSQL: the primary's database, which also holds the outbox. */
  readonly db: SqlDatabase
  readonly primary: ChatStore
  /** The ScyllaDB store (reads when `read` is "scylla") and its session (copies). */
  readonly secondary: ChatStore
  readonly cql: CqlClient
  readonly read: DualRead
  /**
   * `"async"`: acknowledge once PostgreSQL committed and the copy is in the outbox; `"sync"`:
   * copy before acknowledging. Default: async when reads come from PostgreSQL, sync when
   * they come from ScyllaDB.
   */
  readonly copy?: "sync" | "async"
  /** A copy made at once that is slower than this goes to the outbox; default 5000 ms. */
  readonly copyTimeoutMs?: number
  /** Outbox retries: first delay, cap, and the idle poll for other nodes' entries; defaults 200, 30 000, 5000 ms. */
  readonly retryBaseMs?: number
  readonly retryMaxMs?: number
  readonly pollMs?: number
  /**
   * ScyllaDB's circuit breaker (the node passes src/resilience/Breaker.ts's): while it is open
   * no copy is tried (sync copies go straight to the outbox, the replay fiber waits), each
   * copy's outcome is counted, and a copy that does not answer within `copyTimeoutMs` is
   * reported as hung. Absent: copies are tried whenever they are due.
   */
  readonly circuit?: CopyCircuit
}

export interface CopyCircuit {
  readonly state: () => "closed" | "half-open" | "open"
  readonly success: () => void
  readonly failure: (cause: string) => void
  readonly hung: (cause: string) => void
}

export interface DualStore extends ChatStore {
  /** The two stores, for per-database health probes. */
  readonly sides: { readonly primary: ChatStore; readonly secondary: ChatStore }
  /** ScyllaDB alone (`ping` is PostgreSQL's: writes commit there first), for /readyz. */
  readonly pingSecondary: Effect.Effect<void, StoreError>
  readonly outbox: {
    /** Entries waiting in the outbox, as of the last change this node saw. */
    readonly pending: SubscriptionRef.SubscriptionRef<number>
    /** Counts the outbox now (every node's entries). */
    readonly count: Effect.Effect<number, StoreError>
    /** Entries and the age of the oldest, read now (metrics). */
    readonly stats: Effect.Effect<{ readonly entries: number; readonly oldestAgeSeconds: number }, StoreError>
    /** Wakes the replay fiber (it also wakes on its own, see `pollMs`). */
    readonly wake: Effect.Effect<void>
  }
}

/** A copy that did not answer in time (ScyllaDB hangs): reported to the circuit as hung. */
class CopyTimedOut extends Error {
  override readonly name = "CopyTimedOut"
}

/** Sentinel `after` for copies that carry no events (a takeover, a member's read position). */
const NO_EVENTS = Number.MAX_SAFE_INTEGER

const fromPg = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

export const makeDualStore = (options: DualOptions): Effect.Effect<DualStore, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { db, primary, secondary } = options
    const target: SyncTarget = { cql: options.cql, clock: makeWriteClock() }
    const outbox = makeOutbox(db)
    const pending = yield* SubscriptionRef.make(0)
    const signal = yield* Queue.sliding<void>(1)
    const wake = Effect.asVoid(Queue.offer(signal, undefined))
    const reader = options.read === "scylla" ? secondary : primary
    const copyTimeout = Duration.millis(options.copyTimeoutMs ?? 5000)

    const apply = (op: OutboxOp): Effect.Effect<void, StoreError> => {
      switch (op._tag) {
        case "Room":
          return op.membersOnly === true && op.members !== "all"
            ? syncMembers(db, target, op.room, op.members)
            : Effect.asVoid(syncRoom(db, target, op.room, op.after, { members: op.members }))
        case "Devices":
          return Effect.flatMap(fromPg("copy.devices", () => readDevices(db, op.user)), (ds) =>
            importDevices(options.cql, op.user, ds)
          )
        case "RoomKeys":
          return Effect.flatMap(fromPg("copy.roomKeys", () => readRoomKeys(db, op.room)), (ks) =>
            importRoomKeys(options.cql, ks)
          )
        case "Fence":
          // A higher fence there already is what this copy wanted.
          return secondary.fenceShard(op.shard, op.epoch).pipe(Effect.catchTag("Fenced", () => Effect.void))
      }
    }

    const circuit = options.circuit
    const circuitOpen = () => circuit !== undefined && circuit.state() !== "closed"
    /** One copy, bounded by `copyTimeoutMs` and counted by the circuit. */
    const copyOnce = (op: OutboxOp): Effect.Effect<void, StoreError> =>
      Effect.suspend(() => {
        if (circuitOpen()) return Effect.fail(new StoreError({ operation: "copy", cause: new Error("ScyllaDB circuit open; the copy waits in the outbox") }))
        return apply(op).pipe(
          Effect.timeoutFail({
            duration: copyTimeout,
            onTimeout: () => new StoreError({ operation: "copy", cause: new CopyTimedOut(`copy to ScyllaDB did not answer within ${Duration.toMillis(copyTimeout)} ms`) })
          }),
          Effect.tapBoth({
            onFailure: (e) =>
              Effect.sync(() => (e.cause instanceof CopyTimedOut ? circuit?.hung(describeFailure(e)) : circuit?.failure(describeFailure(e)))),
            onSuccess: () => Effect.sync(() => circuit?.success())
          })
        )
      })

    const refreshPending = Effect.flatMap(outbox.count, (n) => SubscriptionRef.set(pending, n))

    const enqueue = (op: OutboxOp, failure: StoreError | undefined) =>
      Effect.gen(function* () {
        yield* outbox.enqueue(op, failure)
        yield* SubscriptionRef.update(pending, (n) => n + 1)
        yield* wake
      })

    const copyMode = options.copy ?? (options.read === "scylla" ? "sync" : "async")

    /**
     * After the primary committed. Async: into the outbox, for the replay fiber. Sync: copy
     * now, or queue behind the stream's earlier failures.
     */
    const copy = (op: OutboxOp): Effect.Effect<void, StoreError> =>
      copyMode === "async" ? enqueue(op, undefined) : copyNow(op)

    const copyNow = (op: OutboxOp): Effect.Effect<void, StoreError> =>
      Effect.gen(function* () {
        if (circuitOpen() || (yield* outbox.hasPending(streamOf(op)))) return yield* enqueue(op, undefined)
        const outcome = yield* Effect.either(copyOnce(op))
        if (outcome._tag === "Right") return
        yield* Effect.logWarning("dual-write: copy to ScyllaDB failed, queued in the outbox").pipe(
          Effect.annotateLogs({ stream: streamOf(op), error: describeFailure(outcome.left) })
        )
        yield* enqueue(op, outcome.left)
      })

    const replayLoop = Effect.gen(function* () {
      const base = options.retryBaseMs ?? 200
      const max = options.retryMaxMs ?? 30_000
      const poll = Duration.millis(options.pollMs ?? 5000)
      let failures = 0
      while (true) {
        // While ScyllaDB's circuit is open the copies wait; its probe closes it.
        if (circuitOpen()) {
          // Back: the probe answered, so the next round starts without the backoff grown so far.
          failures = 0
          yield* Effect.sleep(Duration.millis(250))
          continue
        }
        const round = yield* Effect.either(outbox.replayRound(copyOnce))
        yield* Effect.ignore(refreshPending)
        if (round._tag === "Left" || round.right.failed > 0) {
          failures += 1
          // Capped exponential backoff with jitter, so nodes replaying the same outbox spread out.
          const delay = Math.min(max, base * 2 ** Math.min(failures - 1, 20))
          yield* Effect.sleep(Duration.millis(delay / 2 + Math.random() * (delay / 2)))
          continue
        }
        failures = 0
        if (round.right.replayed > 0) continue
        yield* Effect.ignore(Effect.timeoutOption(Queue.take(signal), poll))
      }
    })
    yield* Effect.forkScoped(replayLoop)

    const membersOf = (events: ReadonlyArray<{ kind: string; data?: unknown }>): ReadonlyArray<UserId> => [
      ...new Set(
        events.flatMap((e) =>
          e.kind === "member.joined" || e.kind === "member.left" ? [(e.data as { user: UserId }).user] : []
        )
      )
    ]

    const roomCopy = (room: RoomId, after: number, members: "all" | ReadonlyArray<UserId>): OutboxOp => ({
      _tag: "Room",
      room,
      after,
      members
    })
    const memberCopy = (room: RoomId, user: UserId): OutboxOp => ({
      _tag: "Room",
      room,
      after: NO_EVENTS,
      members: [user],
      membersOnly: true
    })

    const store: DualStore = {
      name: "dual",
      // PostgreSQL's alone: writes commit there, and a hung ScyllaDB must not make the
      // commit database look down (its circuit would refuse every send); ScyllaDB has its own.
      ping: primary.ping,
      pingSecondary: secondary.ping,
      createGroupRoom: (input) => Effect.tap(primary.createGroupRoom(input), (room) => copy(roomCopy(room.id, 0, "all"))),
      findOrCreateDirectRoom: (a, b, newId) =>
        Effect.tap(primary.findOrCreateDirectRoom(a, b, newId), ({ room, created }) =>
          created ? copy(roomCopy(room.id, 0, "all")) : Effect.void
        ),
      loadRoom: (room) => primary.loadRoom(room),
      getMembership: (room, user) => reader.getMembership(room, user),
      commit: (room, epoch, members, ops, shard) =>
        Effect.tap(primary.commit(room, epoch, members, ops, shard), (results) => {
          const events = results.flatMap((r) => (r._tag === "Committed" ? r.events : []))
          // Duplicates, rejections and no-op reactions changed nothing; an empty batch is a
          // takeover (a new epoch), which the head copy carries.
          if (events.length === 0) return ops.length === 0 ? copy(roomCopy(room, NO_EVENTS, [])) : Effect.void
          const first = Math.min(...events.map((e) => e.seq))
          return copy(roomCopy(room, first - 1, membersOf(events)))
        }),
      fenceShard: (shard, epoch) =>
        Effect.tap(primary.fenceShard(shard, epoch), () => copy({ _tag: "Fence", shard, epoch })),
      events: (room, after, upTo, limit) => reader.events(room, after, upTo, limit),
      history: (room, before, limit) => reader.history(room, before, limit),
      listRooms: (user, cursor, limit) => reader.listRooms(user, cursor, limit),
      markRead: (room, user, seq) => Effect.tap(primary.markRead(room, user, seq), () => copy(memberCopy(room, user))),
      setPinned: (room, user, pinned) =>
        Effect.tap(primary.setPinned(room, user, pinned), () => copy(memberCopy(room, user))),
      registerDevice: (user, token, platform) =>
        Effect.tap(primary.registerDevice(user, token, platform), () => copy({ _tag: "Devices", user })),
      unregisterDevice: (user, token) =>
        Effect.tap(primary.unregisterDevice(user, token), () => copy({ _tag: "Devices", user })),
      listDevices: (user) => reader.listDevices(user),
      // PostgreSQL's even when reads go to ScyllaDB: the store of record, whose queue the
      // worker is draining, and one statement there answers a whole claim.
      pushAudience: (rooms) => primary.pushAudience(rooms),
      roomKeys: (room) => reader.roomKeys(room),
      // The answer (the keys that won) is PostgreSQL's: it decides which key a room uses.
      addRoomKey: (key) => Effect.tap(primary.addRoomKey(key), () => copy({ _tag: "RoomKeys", room: key.room })),
      allRoomKeys: reader.allRoomKeys,
      rewrapRoomKey: (key) => Effect.tap(primary.rewrapRoomKey(key), () => copy({ _tag: "RoomKeys", room: key.room })),
      // The queue lives in the primary only: it is written by the primary's commit and read by
      // the push worker; ScyllaDB's copy of the history has no intents.
      push: primary.push,
      outbox: { pending, count: outbox.count, stats: outbox.stats, wake },
      sides: { primary, secondary }
    }
    // Entries left by an earlier run (or another node) are replayed from the start.
    yield* Effect.ignore(refreshPending)
    yield* wake
    return store
  })
