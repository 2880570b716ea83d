/** The push queue in memory (unit tests, CHAT_STORE=memory); the rules are ../PushQueue.ts's. */
import { Effect } from "effect"
import type { RoomId } from "../../src/domain/model.ts"
import type { PushIntent, PushQueue } from "../PushQueue.ts"

interface Row {
  intent: PushIntent
  leaseUntil: number
}

export interface MemoryPushQueue extends PushQueue {
  /** Called by the memory store's commit. */
  readonly add: (intent: Omit<PushIntent, "attempts">) => void
}

const keyOf = (room: RoomId, fromSeq: number) => `${room}\u0000${fromSeq}`

export const makeMemoryPushQueue = (): MemoryPushQueue => {
  const rows = new Map<string, Row>()
  const sent = new Map<string, number>()
  return {
    add: (intent) => {
      const key = keyOf(intent.room, intent.fromSeq)
      if (!rows.has(key)) rows.set(key, { intent: { ...intent, attempts: 0 }, leaseUntil: 0 })
    },
    claim: ({ leaseMs, now, rooms, settleMs }) =>
      Effect.sync(() => {
        const oldest = new Map<RoomId, number>()
        for (const r of rows.values()) {
          if (r.leaseUntil > now) continue
          const t = Date.parse(r.intent.createdAt)
          const o = oldest.get(r.intent.room)
          if (o === undefined || t < o) oldest.set(r.intent.room, t)
        }
        const ready = [...oldest].filter(([, t]) => t <= now - settleMs).sort((a, b) => a[1] - b[1]).slice(0, rooms)
        const chosen = new Set(ready.map(([room]) => room))
        const out: Array<PushIntent> = []
        for (const r of rows.values()) {
          if (r.leaseUntil > now || !chosen.has(r.intent.room)) continue
          r.leaseUntil = now + leaseMs
          r.intent = { ...r.intent, attempts: r.intent.attempts + 1 }
          out.push(r.intent)
        }
        return out.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : a.fromSeq - b.fromSeq))
      }),
    ack: (keys) =>
      Effect.sync(() => {
        for (const k of keys) rows.delete(keyOf(k.room, k.fromSeq))
      }),
    retryAt: (keys, at) =>
      Effect.sync(() => {
        for (const k of keys) {
          const r = rows.get(keyOf(k.room, k.fromSeq))
          if (r !== undefined) r.leaseUntil = at
        }
      }),
    stats: Effect.sync(() => {
      let oldestAt: string | undefined
      for (const r of rows.values()) if (oldestAt === undefined || r.intent.createdAt < oldestAt) oldestAt = r.intent.createdAt
      return oldestAt === undefined ? { depth: 0 } : { depth: rows.size, oldestAt }
    }),
    sentUpTo: (room, users) =>
      Effect.sync(() => {
        const out = new Map<string, number>()
        for (const u of users) {
          const seq = sent.get(keyOf(room, 0) + u)
          if (seq !== undefined) out.set(u, seq)
        }
        return out
      }),
    markSent: (room, user, seq) =>
      Effect.sync(() => {
        const key = keyOf(room, 0) + user
        sent.set(key, Math.max(sent.get(key) ?? 0, seq))
      })
  }
}
