/**
 * The payloads that cross NATS once per message in clustered mode, decoded and encoded by
 * hand: a forwarded send, the owner's reply to it, and the committed event frame. A Schema
 * walk per payload (four per forwarded send) cost more than the rest of the router's work.
 * The Schemas (./cluster.ts, ./serverFrames.ts) stay the definition: a decoder here answers
 * only a payload of the common shape that the Schema accepts, with the same value, and
 * undefined for anything else, which then takes the Schema's path (where errors are worded).
 * tests/unit/cluster-wire.test.ts runs both over valid and invalid payloads and requires
 * them to agree.
 */
import { EventKind, isWellFormed, UUID_PATTERN, type Ack, type ChatEvent, type RoomId, type UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"

type Send = Extract<WriteOp, { _tag: "Send" }>
type Record_ = Record<string, unknown>

const own = Object.prototype.hasOwnProperty
const KINDS: ReadonlySet<unknown> = new Set(EventKind.literals)

const isObject = (v: unknown): v is Record_ => typeof v === "object" && v !== null && !Array.isArray(v)
const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0
const field = (r: Record_, k: string): unknown => (own.call(r, k) ? r[k] : undefined)

/** RoomId's decoding: lower-cased, then a UUID. */
const roomOf = (v: unknown): RoomId | undefined => {
  if (typeof v !== "string") return undefined
  const room = v.toLowerCase()
  return UUID_PATTERN.test(room) ? (room as RoomId) : undefined
}

const isUserId = (v: unknown): v is UserId =>
  typeof v === "string" && v.length >= 1 && v.length <= 128 && !v.includes("\u0000") && isWellFormed(v)

/** The JSON of a forwarded send command, as the Schema would encode it. */
export const encodeSendCommand = (room: RoomId, op: Send): string =>
  JSON.stringify({
    k: "w",
    room,
    op: {
      _tag: "Send",
      actor: op.actor,
      messageId: op.messageId,
      clientMsgId: op.clientMsgId,
      body: op.body,
      ...(op.replyTo !== undefined ? { replyTo: op.replyTo } : {}),
      ...(op.system !== undefined ? { system: op.system } : {})
    }
  })

/** A forwarded send command (parsed JSON), or undefined for anything else. */
export const decodeSendCommandValue = (raw: unknown): { k: "w"; room: RoomId; op: Send } | undefined => {
  if (!isObject(raw) || field(raw, "k") !== "w") return undefined
  const room = roomOf(field(raw, "room"))
  const op = field(raw, "op")
  if (room === undefined || !isObject(op) || field(op, "_tag") !== "Send") return undefined
  const actor = field(op, "actor")
  const messageId = field(op, "messageId")
  const clientMsgId = field(op, "clientMsgId")
  const body = field(op, "body")
  if (!isUserId(actor) || typeof messageId !== "string" || typeof clientMsgId !== "string" || typeof body !== "string") {
    return undefined
  }
  const replyTo = field(op, "replyTo")
  if (replyTo !== undefined && !(typeof replyTo === "number" && Number.isSafeInteger(replyTo))) return undefined
  const system = field(op, "system")
  if (system !== undefined && typeof system !== "boolean") return undefined
  // `exact` optionals: a key present with the value undefined cannot come out of JSON.
  return {
    k: "w",
    room,
    op: {
      _tag: "Send",
      actor,
      messageId,
      clientMsgId,
      body,
      ...(replyTo !== undefined ? { replyTo } : {}),
      ...(system !== undefined ? { system } : {})
    }
  }
}

const ackJson = (a: Ack) => ({
  room: a.room,
  seq: a.seq,
  ...(a.messageId !== undefined ? { messageId: a.messageId } : {}),
  ts: a.ts
})

const eventJson = (e: ChatEvent) => ({ room: e.room, seq: e.seq, ts: e.ts, kind: e.kind, actor: e.actor, data: e.data })

/** The JSON of a committed or duplicate write's reply; undefined for a rejection (the Schema encodes its error). */
export const encodeOkResult = (r: OpResult): string | undefined => {
  switch (r._tag) {
    case "Committed":
      return JSON.stringify({ ok: true, r: { _tag: "Committed", ack: ackJson(r.ack), events: r.events.map(eventJson) } })
    case "Duplicate":
      return JSON.stringify({ ok: true, r: { _tag: "Duplicate", ack: ackJson(r.ack) } })
    case "Rejected":
      return undefined
  }
}

const decodeAck = (v: unknown): Ack | undefined => {
  if (!isObject(v)) return undefined
  const room = roomOf(field(v, "room"))
  const seq = field(v, "seq")
  const ts = field(v, "ts")
  const messageId = field(v, "messageId")
  if (room === undefined || !isSeq(seq) || typeof ts !== "string") return undefined
  if (messageId !== undefined && typeof messageId !== "string") return undefined
  return { room, seq, ...(messageId !== undefined ? { messageId } : {}), ts }
}

const decodeEvent = (v: unknown): ChatEvent | undefined => {
  if (!isObject(v) || !own.call(v, "data")) return undefined
  const room = roomOf(field(v, "room"))
  const seq = field(v, "seq")
  const ts = field(v, "ts")
  const kind = field(v, "kind")
  const actor = field(v, "actor")
  if (room === undefined || !isSeq(seq) || typeof ts !== "string" || !KINDS.has(kind) || !isUserId(actor)) return undefined
  return { room, seq, ts, kind: kind as ChatEvent["kind"], actor, data: v.data }
}

/** A reply with a committed or duplicate write's result (parsed JSON), or undefined for anything else. */
export const decodeOkResultValue = (raw: unknown): OpResult | undefined => {
  if (!isObject(raw) || field(raw, "ok") !== true) return undefined
  const r = field(raw, "r")
  if (!isObject(r)) return undefined
  const ack = decodeAck(field(r, "ack"))
  if (ack === undefined) return undefined
  switch (field(r, "_tag")) {
    case "Duplicate":
      return { _tag: "Duplicate", ack }
    case "Committed": {
      const raws = field(r, "events")
      if (!Array.isArray(raws)) return undefined
      const events: Array<ChatEvent> = []
      for (const e of raws) {
        const event = decodeEvent(e)
        if (event === undefined) return undefined
        events.push(event)
      }
      return { _tag: "Committed", ack, events }
    }
    default:
      return undefined
  }
}

/**
 * The public event frame on `chat.room.<room>.events` (parsed JSON) as the event it
 * carries, or undefined when it is not one the Schema accepts. Its room and actor are plain
 * strings there (the frame's Schema), so they are checked as strings only.
 */
export const decodeEventFrameValue = (raw: unknown): ChatEvent | undefined => {
  if (!isObject(raw) || field(raw, "type") !== "event" || !own.call(raw, "data")) return undefined
  const room = field(raw, "room")
  const seq = field(raw, "seq")
  const ts = field(raw, "ts")
  const kind = field(raw, "kind")
  const actor = field(raw, "actor")
  if (typeof room !== "string" || !isSeq(seq) || typeof ts !== "string" || !KINDS.has(kind) || typeof actor !== "string") {
    return undefined
  }
  return { room: room as RoomId, seq, ts, kind: kind as ChatEvent["kind"], actor: actor as UserId, data: raw.data }
}
