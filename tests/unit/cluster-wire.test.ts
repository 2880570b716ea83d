/**
 * The NATS payloads between nodes (src/protocol/cluster.ts, src/cluster/wire.ts) and the
 * server frames (src/protocol/serverFrames.ts): what one side encodes the other decodes to
 * the same value, and a malformed payload is refused with a worded error, never cast.
 */
import { Either, Option, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { NotFound, RateLimited, notOwner } from "../../core/errors.ts"
import type { RoomId, UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import * as Wire from "../../src/cluster/wire.ts"
import { Command, Reply, Signal, readSignal, typingSignal } from "../../src/protocol/cluster.ts"
import * as Fast from "../../src/protocol/fastCluster.ts"
import {
  ackFrame,
  errorFrame,
  EventFrame,
  eventFrame,
  presenceFrame,
  readFrame,
  replyFrame,
  ServerFrame,
  typingFrame
} from "../../src/protocol/serverFrames.ts"

const room = "0190d7e4-0000-7000-8000-000000000001" as RoomId
const alice = "alice" as UserId

const ops: ReadonlyArray<WriteOp> = [
  { _tag: "Send", actor: alice, messageId: "m1", clientMsgId: "c1", body: "hi" },
  { _tag: "Send", actor: alice, messageId: "m2", clientMsgId: "c2", body: "re", replyTo: 1, system: true },
  { _tag: "Edit", actor: alice, seq: 1, body: "edited" },
  { _tag: "Delete", actor: alice, seq: 1 },
  { _tag: "React", actor: alice, seq: 1, emoji: "👍", remove: false },
  { _tag: "AddMembers", actor: alice, users: ["bob" as UserId, "carol" as UserId] },
  { _tag: "RemoveMember", actor: alice, user: "bob" as UserId },
  { _tag: "Rename", actor: alice, name: "general" }
]

describe("cluster wire", () => {
  it("cluster wire - every write op and the snapshot command travel unchanged", () => {
    for (const op of ops) {
      expect(Wire.decodeCommand(Wire.encodeCommand({ k: "w", room, op }))).toEqual(Either.right({ k: "w", room, op }))
    }
    expect(Wire.decodeCommand(Wire.encodeCommand({ k: "s", room }))).toEqual(Either.right({ k: "s", room }))
  })

  it("cluster wire - a malformed command is refused with a worded error", () => {
    const refused = (text: string) => {
      const r = Wire.decodeCommand(text)
      return Either.isLeft(r) ? r.left : undefined
    }
    for (const text of [
      "not json",
      "{}",
      JSON.stringify({ k: "w", room, op: { _tag: "Send", actor: alice } }),
      JSON.stringify({ k: "w", room, op: { _tag: "Explode", actor: alice } }),
      JSON.stringify({ k: "s", room: "not-a-uuid" }),
      JSON.stringify({ k: "w", room, op: { _tag: "Delete", actor: alice, seq: -1 } })
    ]) {
      const e = refused(text)
      expect(e?._tag, text).toBe("Internal")
      expect(e?.message).toMatch(/^malformed command from another node: /)
    }
  })

  it("cluster wire - results, snapshots and errors come back as the same values and tagged errors", () => {
    const ack = { room, seq: 3, messageId: "m1", ts: "2026-01-01T00:00:00.000Z" }
    const results: ReadonlyArray<OpResult> = [
      {
        _tag: "Committed",
        ack,
        events: [{ room, seq: 3, ts: ack.ts, kind: "message.created", actor: alice, data: { seq: 3, body: "hi" } }]
      },
      { _tag: "Duplicate", ack },
      { _tag: "Rejected", error: new NotFound({ message: "message not found" }) }
    ]
    for (const r of results) expect(Wire.decodeReply(Wire.encodeResult(r))).toEqual(Either.right(r))
    const snapshot: RoomSnapshot = { room, kind: "group", name: "g", createdAt: ack.ts, lastSeq: 3, members: new Map([[alice, "owner"]]) }
    expect(Wire.decodeReply(Wire.encodeSnapshot(snapshot))).toEqual(Either.right(snapshot))
    const limited = new RateLimited({ message: "slow down", retryAfterMs: 250 })
    const back = Wire.decodeReply(Wire.encodeFailure(limited))
    expect(Either.isLeft(back) && back.left).toEqual(limited)
    expect(Either.isLeft(back) && back.left instanceof RateLimited).toBe(true)
    const owner = Wire.decodeReply(Wire.encodeFailure(notOwner(room)))
    expect(Either.isLeft(owner) && owner.left).toEqual(notOwner(room))
  })

  it("cluster wire - a malformed reply is an Internal error, not a cast", () => {
    for (const text of ["", "[]", JSON.stringify({ ok: true, r: { _tag: "Committed" } }), JSON.stringify({ ok: false, e: { _tag: "Nope" } })]) {
      const r = Wire.decodeReply(text)
      expect(Either.isLeft(r) && r.left._tag, text).toBe("Internal")
    }
  })

  it("cluster wire - signals decode with their Schema; others are refused", () => {
    const decode = Schema.decodeUnknownOption(Signal)
    expect(decode(JSON.parse(typingSignal(room, alice, "s1")))).toEqual(Option.some({ type: "typing", room, user: alice, origin: "s1" }))
    expect(decode(JSON.parse(readSignal(room, alice, 4, undefined)))).toEqual(Option.some({ type: "read", room, user: alice, seq: 4 }))
    expect(decode(JSON.parse(presenceFrame(room, alice, true)))).toEqual(Option.some({ type: "presence", room, user: alice, online: true }))
    expect(Option.isNone(decode({ type: "read", room, user: alice, seq: "4" }))).toBe(true)
    expect(Option.isNone(decode({ type: "typing", room }))).toBe(true)
  })

  it("server frames - what every builder writes decodes with the frame Schemas", () => {
    const decode = Schema.decodeUnknownEither(ServerFrame, { onExcessProperty: "error" })
    const frames = [
      eventFrame({ room, seq: 1, ts: "t", kind: "message.created", actor: alice, data: {} }),
      ackFrame("1", { room, seq: 1, messageId: "m", ts: "t" }),
      ackFrame(undefined, { room, seq: 1, ts: "t" }),
      errorFrame("1", new RateLimited({ message: "slow", retryAfterMs: 5 })),
      errorFrame(undefined, new NotFound({ message: "room not found" })),
      replyFrame("subscribed", "1", { room, seq: 0, truncated: true }),
      replyFrame("unsubscribed", undefined, { room, reason: "no longer a member" }),
      replyFrame("history", "2", { room, messages: [], hasMore: false }),
      replyFrame("pong", "3", {}),
      readFrame(room, alice, 2),
      typingFrame(room, alice),
      presenceFrame(room, alice, false)
    ]
    for (const f of frames) expect(Either.isRight(decode(JSON.parse(f))), f).toBe(true)
  })
})

/**
 * The hand-written codecs of the per-message payloads (src/protocol/fastCluster.ts) against
 * the Schemas they stand in for: on every payload below, each fast decoder answers exactly
 * what its Schema decodes, or nothing (and the payload then takes the Schema's path). It
 * never accepts what the Schema refuses, and it accepts every plain valid payload.
 */
describe("cluster wire - hand-written codecs agree with the Schemas", () => {
  const decodeCommandSchema = Schema.decodeUnknownEither(Command)
  const decodeReplySchema = Schema.decodeUnknownEither(Reply)
  const decodeEventSchema = Schema.decodeUnknownEither(EventFrame)
  const encodeCommandSchema = Schema.encodeSync(Command)
  const encodeReplySchema = Schema.encodeSync(Reply)
  const upper = room.toUpperCase()
  const ts = "2026-01-01T00:00:00.000Z"
  const send = { _tag: "Send", actor: alice, messageId: "m1", clientMsgId: "c1", body: "hi" }
  const ev = { room, seq: 3, ts, kind: "message.created", actor: alice, data: { seq: 3, body: "hi" } }
  const ack = { room, seq: 3, messageId: "m1", ts }

  /** Each payload: the fast decoder must answer the Schema's value, or undefined; `plain` ones must be answered. */
  const agree = (
    fast: (raw: unknown) => unknown,
    schema: (raw: unknown) => Either.Either<unknown, unknown>,
    plain: ReadonlyArray<unknown>,
    others: ReadonlyArray<unknown>
  ) => {
    for (const raw of plain) {
      const viaSchema = schema(raw)
      expect(Either.isRight(viaSchema), JSON.stringify(raw)).toBe(true)
      expect(fast(raw), JSON.stringify(raw)).toEqual(Either.getOrThrow(viaSchema))
    }
    for (const raw of others) {
      const answer = fast(raw)
      if (answer === undefined) continue
      const viaSchema = schema(raw)
      expect(Either.isRight(viaSchema), `fast accepted what the Schema refuses: ${JSON.stringify(raw)}`).toBe(true)
      expect(answer, JSON.stringify(raw)).toEqual(Either.getOrThrow(viaSchema))
    }
  }

  it("a forwarded send command", () => {
    agree(
      Fast.decodeSendCommandValue,
      decodeCommandSchema,
      [
        { k: "w", room, op: send },
        { k: "w", room: upper, op: send },
        { k: "w", room, op: { ...send, replyTo: 7, system: true } },
        { k: "w", room, op: { ...send, replyTo: -2, system: false } },
        { k: "w", room, op: { ...send, body: "", clientMsgId: "" }, extra: 1 },
        { k: "w", room, op: { ...send, actor: "a".repeat(128), more: [1] } }
      ],
      [
        null,
        [],
        { k: "s", room },
        { k: "w", room, op: { ...send, _tag: "Edit", seq: 1, body: "x" } },
        { k: "w", room: "not-a-uuid", op: send },
        { k: "w", room: 1, op: send },
        { k: "w", op: send },
        { k: "w", room, op: null },
        { k: "w", room, op: { ...send, actor: "" } },
        { k: "w", room, op: { ...send, actor: "a".repeat(129) } },
        { k: "w", room, op: { ...send, actor: "nul\u0000" } },
        { k: "w", room, op: { ...send, actor: "lone \ud800" } },
        { k: "w", room, op: { ...send, messageId: 1 } },
        { k: "w", room, op: { ...send, clientMsgId: undefined } },
        { k: "w", room, op: { ...send, body: null } },
        { k: "w", room, op: { ...send, replyTo: 1.5 } },
        { k: "w", room, op: { ...send, replyTo: "1" } },
        { k: "w", room, op: { ...send, replyTo: Number.MAX_SAFE_INTEGER + 2 } },
        { k: "w", room, op: { ...send, system: "yes" } },
        { k: "x", room, op: send }
      ]
    )
  })

  it("a committed or duplicate write's reply", () => {
    agree(
      Fast.decodeOkResultValue,
      (raw) => Either.map(decodeReplySchema(raw), (v) => ("r" in v ? v.r : v)),
      [
        { ok: true, r: { _tag: "Committed", ack, events: [ev] } },
        { ok: true, r: { _tag: "Committed", ack: { room: upper, seq: 0, ts }, events: [] } },
        { ok: true, r: { _tag: "Committed", ack, events: [ev, { ...ev, seq: 4, kind: "reaction.added", data: null }] } },
        { ok: true, r: { _tag: "Duplicate", ack: { ...ack, extra: true } } }
      ],
      [
        null,
        { ok: false, e: { _tag: "NotFound", message: "x" } },
        { ok: true, r: { _tag: "Rejected", error: { _tag: "NotFound", message: "x" } } },
        { ok: true, s: { room, kind: "group", createdAt: ts, lastSeq: 1, members: [] } },
        { ok: true, r: { _tag: "Committed", ack } },
        { ok: true, r: { _tag: "Committed", ack, events: [{ ...ev, kind: "message.exploded" }] } },
        { ok: true, r: { _tag: "Committed", ack, events: [{ ...ev, seq: -1 }] } },
        { ok: true, r: { _tag: "Committed", ack, events: [{ ...ev, actor: "" }] } },
        { ok: true, r: { _tag: "Committed", ack, events: [{ room, seq: 3, ts, kind: "message.created", actor: alice }] } },
        { ok: true, r: { _tag: "Committed", ack, events: [{ ...ev, room: "nope" }] } },
        { ok: true, r: { _tag: "Duplicate", ack: { ...ack, seq: 1.5 } } },
        { ok: true, r: { _tag: "Duplicate", ack: { ...ack, messageId: 5 } } },
        { ok: true, r: { _tag: "Duplicate", ack: { room, seq: 1 } } },
        { ok: "true", r: { _tag: "Duplicate", ack } }
      ]
    )
  })

  it("the event frame on a room's events subject", () => {
    const frame = JSON.parse(eventFrame(ev as never))
    agree(
      Fast.decodeEventFrameValue,
      (raw) => Either.map(decodeEventSchema(raw), ({ type: _type, ...event }) => event),
      [frame, { ...frame, room: "any string", actor: "" }, { ...frame, data: null, extra: 1 }],
      [
        null,
        { ...frame, type: "ack" },
        { ...frame, seq: -1 },
        { ...frame, seq: "3" },
        { ...frame, kind: "nope" },
        { ...frame, ts: 5 },
        { ...frame, room: 5 },
        { type: "event", room, seq: 3, ts, kind: "message.created", actor: alice }
      ]
    )
  })

  it("encoding: the hand-written JSON is what the Schema encodes", () => {
    for (const op of ops.filter((o) => o._tag === "Send")) {
      const c = { k: "w" as const, room, op }
      expect(JSON.parse(Wire.encodeCommand(c))).toEqual(encodeCommandSchema(c))
    }
    const results: ReadonlyArray<OpResult> = [
      { _tag: "Committed", ack, events: [ev as never] },
      { _tag: "Committed", ack: { room, seq: 1, ts }, events: [] },
      { _tag: "Duplicate", ack }
    ]
    for (const r of results) expect(JSON.parse(Wire.encodeResult(r))).toEqual(encodeReplySchema({ ok: true, r }))
  })
})
