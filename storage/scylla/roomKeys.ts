/**
 * Room data keys. "Insert unless the room has a key" is one conditional batch on the room's
 * partition: the static first_key_id is claimed and the key row written together, so exactly
 * one first key survives concurrent adds.
 */
import { Effect } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { RoomId } from "../../core/model.ts"
import type { WrappedRoomKey } from "../ChatStore.ts"
import { byteOrder } from "../byteOrder.ts"
import type { CqlClient, ReadOptions, Row } from "./CqlClient.ts"
import { date, roomKey } from "./rows.ts"
import * as S from "./statements.ts"

const keyOrder = (a: WrappedRoomKey, b: WrappedRoomKey) =>
  a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? -1 : 1) : byteOrder(a.keyId, b.keyId)

/** A partition that has only its static column answers one row with null clustering columns. */
const keysOf = (rows: ReadonlyArray<Row>) =>
  rows.filter((r) => r.key_id !== null && r.key_id !== undefined).map(roomKey)

export const roomKeys = (cql: CqlClient, room: RoomId, options?: ReadOptions) =>
  Effect.map(cql.allRows("roomKeys", S.ROOM_KEYS, [room], options), (rows) => keysOf(rows).sort(keyOrder))

export const addRoomKey = (cql: CqlClient, key: WrappedRoomKey) =>
  Effect.gen(function* () {
    yield* cql.lwt("addRoomKey", [
      { query: S.CLAIM_FIRST_KEY, params: [key.keyId, key.room] },
      { query: S.INSERT_ROOM_KEY, params: [key.room, key.keyId, key.masterKeyId, key.wrapped, date(key.createdAt)] }
    ])
    // Whatever the outcome (ours, another's, unknown), a serial read shows the keys that won.
    return yield* roomKeys(cql, key.room, { serial: true })
  })

/** Re-wrapping is idempotent, so an unknown outcome is retried. */
export const rewrapRoomKey = (cql: CqlClient, key: WrappedRoomKey) =>
  Effect.gen(function* () {
    for (let round = 0; round < 3; round++) {
      const outcome = yield* cql.lwt("rewrapRoomKey", [
        { query: S.REWRAP_ROOM_KEY, params: [key.masterKeyId, key.wrapped, key.room, key.keyId] }
      ])
      if (outcome._tag !== "Unknown") return
    }
    return yield* new StoreError({ operation: "rewrapRoomKey", cause: new Error("outcome unknown after 3 tries") })
  })

export const allRoomKeys = (cql: CqlClient) =>
  Effect.map(cql.allRows("allRoomKeys", S.ALL_ROOM_KEYS, []), (rows) =>
    keysOf(rows).sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : keyOrder(a, b)))
  )
