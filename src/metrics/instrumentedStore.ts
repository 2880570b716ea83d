/**
 * Times every store operation into chat_query_duration_seconds{operation,database}.
 * One decorator over the contract, so every store is measured the same way.
 *
 * `operation` uses the names of the system this one replaces (its dashboards and alerts read
 * them), mapped from our store operations by `operationOf`; docs/metrics.md lists the map.
 * `database` is the store that ran the call: in dual mode each side is wrapped on its own
 * (src/store/select.ts), so the label reads postgres or scylla, never dual.
 */
import { Effect } from "effect"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { WriteOp } from "../../core/ops.ts"
import { queryRecorder, timeQuery } from "./metrics.ts"

/**
 * Our store operation -> the original operation name. `push` (the notification queue) is an
 * object of its own that the push worker polls; it is passed through untimed and measured by
 * the chat_push_* series instead.
 */
export const OPERATION_NAMES: Readonly<Record<Exclude<keyof ChatStore, "name" | "push" | "commitNow" | "commitPreparedNow" | "historyNow">, string>> = {
  commit: "save_message",
  history: "get_messages",
  events: "get_events",
  loadRoom: "get_room",
  listRooms: "get_room_list",
  markRead: "mark_read",
  getMembership: "get_membership",
  createGroupRoom: "create_room",
  findOrCreateDirectRoom: "create_direct_room",
  setPinned: "pin_room",
  fenceShard: "fence_shard",
  registerDevice: "register_device",
  unregisterDevice: "unregister_device",
  listDevices: "get_devices",
  pushAudience: "get_push_audience",
  roomKeys: "get_room_keys",
  addRoomKey: "add_room_key",
  allRoomKeys: "get_all_room_keys",
  rewrapRoomKey: "rewrap_room_key",
  ping: "ping"
}

/**
 * A commit is one query for a batch of writes. A batch of reactions only is `react` (the
 * original's own operation); any other batch (sends, edits, deletes, member changes, or a
 * mix) is `save_message`, whose p99 the original latency alert reads.
 */
export const commitOperation = (ops: ReadonlyArray<WriteOp>): "react" | "save_message" =>
  ops.length > 0 && ops.every((op) => op._tag === "React") ? "react" : "save_message"

/** The plain commits' recorders of one store: the one for a batch's operation (`commitOperation` above). */
const commitRecorders = (database: string) => {
  const save = queryRecorder(OPERATION_NAMES.commit, database)
  const react = queryRecorder("react", database)
  return (ops: ReadonlyArray<WriteOp>) => (commitOperation(ops) === "react" ? react : save)
}

export const withMetrics = (store: ChatStore): ChatStore => {
  const out: Record<string, unknown> = {}
  for (const [operation, member] of Object.entries(store)) {
    const name = (OPERATION_NAMES as Record<string, string>)[operation] ?? operation
    const time = timeQuery(name, store.name)
    if (operation === "commit") {
      const react = timeQuery("react", store.name)
      const commit = member as ChatStore["commit"]
      out[operation] = ((room, epoch, members, ops, shard) =>
        (commitOperation(ops) === "react" ? react : time)(commit(room, epoch, members, ops, shard))) satisfies ChatStore["commit"]
    } else if (operation === "commitNow" && typeof member === "function") {
      const commitNow = member as NonNullable<ChatStore["commitNow"]>
      const recorderOf = commitRecorders(store.name)
      out[operation] = ((room, epoch, members, ops, shard, done) => {
        const record = recorderOf(ops)
        const start = performance.now()
        commitNow(room, epoch, members, ops, shard, (error, results) => {
          record((performance.now() - start) / 1000)
          done(error, results)
        })
      }) satisfies ChatStore["commitNow"]
    } else if (operation === "commitPreparedNow" && typeof member === "function") {
      // Timed as `commitNow`; the kind of batch is known once its ops are made.
      const commitPreparedNow = member as NonNullable<ChatStore["commitPreparedNow"]>
      const recorderOf = commitRecorders(store.name)
      out[operation] = ((room, epoch, members, shard, prepare, done) => {
        const start = performance.now()
        let record = recorderOf([])
        const made = () => {
          const ops = prepare()
          record = recorderOf(ops)
          return ops
        }
        commitPreparedNow(room, epoch, members, shard, made, (error, results) => {
          record((performance.now() - start) / 1000)
          done(error, results)
        })
      }) satisfies ChatStore["commitPreparedNow"]
    } else if (operation === "historyNow" && typeof member === "function") {
      // Timed under the name of `history`: the same query, on a path without an Effect.
      const historyNow = member as NonNullable<ChatStore["historyNow"]>
      const record = queryRecorder(OPERATION_NAMES.history, store.name)
      out[operation] = ((room, before, limit, done) => {
        const start = performance.now()
        historyNow(room, before, limit, (error, page) => {
          record((performance.now() - start) / 1000)
          done(error, page)
        })
      }) satisfies ChatStore["historyNow"]
    } else if (typeof member === "function") {
      out[operation] = (...args: Array<unknown>) => time((member as (...a: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args))
    } else if (Effect.isEffect(member)) {
      out[operation] = time(member)
    } else {
      out[operation] = member
    }
  }
  return out as unknown as ChatStore
}
