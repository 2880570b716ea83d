/**
 * The ChatStore on ScyllaDB (or Apache Cassandra) through cassandra-driver. The session is
 * opened when the scope opens (connect, keyspace and schema.cql applied, so a bad contact
 * point fails at start) and closed with it. The rules are plan()'s, as in every store; this
 * store only loads and persists, without transactions: see ./commit.ts for how a batch gets
 * gapless seqs and fencing from one lightweight transaction, and docs/scylla.md for the design.
 */
import { Effect, Layer, type Scope } from "effect"
import type { Consistency } from "./consistency.ts"
import type { StoreError } from "../../core/errors.ts"
import { type ChatStore, ChatStoreTag } from "../ChatStore.ts"
import { makeApplier } from "./apply.ts"
import { commitBatch } from "./commit.ts"
import { type CqlClient, makeCqlClient } from "./CqlClient.ts"
import * as Devices from "./devices.ts"
import * as Members from "./memberships.ts"
import * as Reads from "./reads.ts"
import * as Keys from "./roomKeys.ts"
import { pushAudience } from "./pushAudience.ts"
import { makeScyllaPushQueue } from "./pushQueue.ts"
import { listRooms } from "./roomList.ts"
import { makeRoomLocks } from "./roomLocks.ts"
import * as Rooms from "./rooms.ts"
import { applySchema, useKeyspace } from "./schema.ts"
import { fenceShard } from "./shardFences.ts"
import * as S from "./statements.ts"
import { makeWriteClock } from "./writeClock.ts"

export interface ScyllaOptions {
  /** `host` or `host:port` (port 9042 when absent). */
  readonly contactPoints: ReadonlyArray<string>
  readonly keyspace: string
  /** The data center whose nodes this process talks to (DCAwareRoundRobinPolicy). */
  readonly localDc: string
  /** For reads and writes; lightweight transactions use LOCAL_SERIAL for their Paxos phase. */
  readonly consistency: Consistency
  /** schema.cql's text (see ./schema.node.ts); applied at start when given. */
  readonly schema?: string
  /** Replication of the keyspace if the store has to create it; see ./schema.ts. */
  readonly replication?: string
  readonly connectTimeoutMs?: number
}

/** The store over an open session whose keyspace is set (exported for tests that reuse one). */
export const makeScyllaStoreOn = (cql: CqlClient): ChatStore => {
  const applier = makeApplier(cql)
  const writeClock = makeWriteClock()
  const ctx = { cql, applier, writeClock }
  const locks = makeRoomLocks()
  return {
    name: "scylla",
    ping: Effect.asVoid(cql.rows("ping", S.PING, [])),
    createGroupRoom: (input) => Rooms.createGroupRoom(ctx, input),
    findOrCreateDirectRoom: (a, b, newId) => Rooms.findOrCreateDirectRoom(ctx, a, b, newId),
    loadRoom: (room) => Rooms.loadRoom(ctx, "loadRoom", room),
    getMembership: (room, user) => Members.getMembership(cql, room, user),
    commit: (room, epoch, members, ops, shard) => locks.withRoom(room, commitBatch(ctx, room, epoch, members, ops, shard)),
    fenceShard: (shard, epoch) => fenceShard(cql, shard, epoch),
    events: (room, after, upTo, limit) => Reads.events(cql, room, after, upTo, limit),
    history: (room, before, limit) => Reads.history(cql, room, before, limit),
    listRooms: (user, cursor, limit) => listRooms(cql, user, cursor, limit),
    markRead: (room, user, seq) => Members.markRead(cql, room, user, seq),
    setPinned: (room, user, pinned) => Members.setPinned(cql, room, user, pinned),
    registerDevice: (user, token, platform) => Devices.registerDevice(cql, user, token, platform),
    unregisterDevice: (user, token) => Devices.unregisterDevice(cql, user, token),
    listDevices: (user) => Devices.listDevices(cql, user),
    pushAudience: (rooms) => pushAudience(ctx, rooms),
    roomKeys: (room) => Keys.roomKeys(cql, room),
    addRoomKey: (key) => Keys.addRoomKey(cql, key),
    allRoomKeys: Keys.allRoomKeys(cql),
    rewrapRoomKey: (key) => Keys.rewrapRoomKey(cql, key),
    push: makeScyllaPushQueue(cql)
  }
}

export const makeScyllaStore = (options: ScyllaOptions): Effect.Effect<ChatStore, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const cql = yield* makeCqlClient(options)
    if (options.schema !== undefined) yield* applySchema(cql, options.keyspace, options.schema, options.replication)
    else yield* useKeyspace(cql, options.keyspace)
    return makeScyllaStoreOn(cql)
  })

export const layer = (options: ScyllaOptions): Layer.Layer<ChatStoreTag, StoreError> =>
  Layer.scoped(ChatStoreTag, makeScyllaStore(options))
