/**
 * Push targets. Every write is a lightweight transaction: registering again must keep the
 * first registration's created_at, and unregistering answers whether the token was there,
 * both of which need the row's current state at the moment of the write.
 */
import { Clock, Effect } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { Device, Platform, UserId } from "../../core/model.ts"
import { byteOrder } from "../byteOrder.ts"
import type { CqlClient } from "./CqlClient.ts"
import { date, device } from "./rows.ts"
import * as S from "./statements.ts"

/** Insert-or-update races with a concurrent unregister; a few rounds settle it. */
const MAX_ROUNDS = 5

export const registerDevice = (cql: CqlClient, user: UserId, token: string, platform: Platform) =>
  Effect.gen(function* () {
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // Both steps are safe to repeat, so an unknown outcome is simply another round.
      const inserted = yield* cql.lwt("registerDevice", [{ query: S.REGISTER_DEVICE, params: [user, token, platform, date(now)] }])
      if (inserted._tag === "Applied") return
      const updated = yield* cql.lwt("registerDevice", [{ query: S.SET_DEVICE_PLATFORM, params: [platform, user, token] }])
      if (updated._tag === "Applied") return
    }
    return yield* new StoreError({ operation: "registerDevice", cause: new Error("device row kept changing") })
  })

export const unregisterDevice = (cql: CqlClient, user: UserId, token: string): Effect.Effect<boolean, StoreError> =>
  Effect.gen(function* () {
    const deleted = yield* cql.lwt("unregisterDevice", [{ query: S.UNREGISTER_DEVICE, params: [user, token] }])
    if (deleted._tag !== "Unknown") return deleted._tag === "Applied"
    // Unknown: if the row is gone now, this call is the one that removed it (or raced one that did).
    const rows = yield* cql.rows("unregisterDevice", S.LIST_DEVICES, [user], { serial: true })
    return !rows.some((r) => r.device_token === token)
  })

export const listDevices = (cql: CqlClient, user: UserId): Effect.Effect<ReadonlyArray<Device>, StoreError> =>
  Effect.map(cql.allRows("listDevices", S.LIST_DEVICES, [user]), (rows) =>
    rows
      .map(device)
      .sort((a, b) => (a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? -1 : 1) : byteOrder(a.token, b.token)))
  )
