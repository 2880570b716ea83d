/**
 * The hand-written `send` decoder (src/protocol/fastSend.ts) against the Schema it stands in
 * for: on every frame below, valid or not, it either answers exactly what the Schema decodes,
 * or nothing (and the frame then takes the Schema's path). It never accepts what the Schema
 * refuses, and it accepts every plain valid send (otherwise the hot path would be dead).
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { decodeSendFast } from "../../src/protocol/fastSend.ts"
import { decodeFrame } from "../../src/protocol/frames.ts"

const ROOM = "0190d6a4-0000-7000-8000-000000000000"
const base = { type: "send", id: "f1", room: ROOM, clientMsgId: "c1", body: "hello" }
const deep = (n: number): unknown => (n === 0 ? "x" : { a: deep(n - 1) })

/** Frames the Schema accepts; the fast decoder must accept each, with the same value. */
const valid: ReadonlyArray<unknown> = [
  base,
  { ...base, id: undefined },
  { type: "send", room: ROOM, clientMsgId: "c", body: "" },
  { ...base, room: ROOM.toUpperCase() },
  { ...base, replyTo: 1 },
  { ...base, replyTo: Number.MAX_SAFE_INTEGER },
  { ...base, id: "i".repeat(128) },
  { ...base, clientMsgId: "k".repeat(64) },
  { ...base, body: "with NUL \u0000 inside (encrypted, allowed)" },
  { ...base, body: "pair \ud83d\ude00 ok", clientMsgId: "emoji \ud83d\ude00" },
  { ...base, extra: { nested: [1, 2, 3] }, more: null },
  { ...base, body: "x".repeat(100_000) },
  { ...base, data: deep(30) }
]

/** Frames the Schema refuses, or that are not sends; the fast decoder must answer nothing. */
const invalid: ReadonlyArray<unknown> = [
  null,
  [],
  [base],
  "send",
  42,
  { ...base, type: "edit", seq: 1 },
  { ...base, type: "Send" },
  { ...base, type: undefined },
  { ...base, id: 7 },
  { ...base, id: null },
  { ...base, id: "i".repeat(129) },
  { ...base, room: "not-a-uuid" },
  { ...base, room: `${ROOM} ` },
  { ...base, room: 1 },
  { ...base, room: undefined },
  { ...base, room: "0190d6a4-0000-7000-8000-00000000000g" },
  { ...base, clientMsgId: "" },
  { ...base, clientMsgId: "k".repeat(65) },
  { ...base, clientMsgId: "nul\u0000" },
  { ...base, clientMsgId: "lone \ud800" },
  { ...base, clientMsgId: "lone \udc00 low" },
  { ...base, clientMsgId: 5 },
  { ...base, clientMsgId: undefined },
  { ...base, body: "lone \ud83d high" },
  { ...base, body: "\ude00 lone low" },
  { ...base, body: 1 },
  { ...base, body: null },
  { ...base, body: ["a"] },
  { ...base, body: undefined },
  { ...base, replyTo: 0 },
  { ...base, replyTo: -3 },
  { ...base, replyTo: 1.5 },
  { ...base, replyTo: "1" },
  { ...base, replyTo: null },
  { ...base, replyTo: 2 ** 53 },
  { ...base, data: deep(40) }
]

/** Texts that are not JSON of a frame object at all. */
const texts: ReadonlyArray<string> = [
  "",
  "send",
  '"send"',
  '{"type":"send"',
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a"}}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a","body":1}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a","__proto__":{"body":"b"}}`,
  `{"__proto__":{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a"}}`,
  `{"type":"\\u0073end","room":"${ROOM}","clientMsgId":"c","body":"a"}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"\\ud800"}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"\\u0000","body":"a"}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a","x":${"[".repeat(40)}${"]".repeat(40)}}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a","replyTo":1e0}`,
  `{"type":"send","room":"${ROOM}","clientMsgId":"c","body":"a","replyTo":1e400}`
]

const schemaSays = (text: string) => {
  const d = decodeFrame(text)
  return Either.isRight(d) && d.right.type === "send" ? d.right : undefined
}

describe("fast send decoder", () => {
  it("fast send - accepts every valid send with the Schema's value (room lowercased, extra fields dropped)", () => {
    for (const frame of valid) {
      const text = JSON.stringify(frame)
      const expected = schemaSays(text)
      expect(expected, text.slice(0, 80)).toBeDefined()
      expect(decodeSendFast(text), text.slice(0, 80)).toStrictEqual(expected)
    }
  })

  it("fast send - answers nothing for every frame the Schema refuses or that is not a send", () => {
    for (const frame of invalid) {
      const text = JSON.stringify(frame)
      expect(schemaSays(text), text.slice(0, 80)).toBeUndefined()
      expect(decodeSendFast(text), text.slice(0, 80)).toBeUndefined()
    }
  })

  it("fast send - on raw texts (bad JSON, duplicate keys, __proto__, escapes, depth) it never disagrees with the Schema", () => {
    for (const text of texts) {
      const fast = decodeSendFast(text)
      if (fast !== undefined) expect(fast, text.slice(0, 80)).toStrictEqual(schemaSays(text))
      else if (text.includes('"send"') && !text.includes("\\u0073")) expect(schemaSays(text), text.slice(0, 80)).toBeUndefined()
    }
  })

  it("fast send - agrees with the Schema on 5,000 random mutations of a valid send", () => {
    let seed = 12
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(rnd() * xs.length)]!
    const values: ReadonlyArray<unknown> = [
      undefined, null, 0, 1, -1, 1.5, 2 ** 53, "", "x", "\u0000", "\ud800", "\ud83d\ude00", ROOM, ROOM.toUpperCase(),
      "k".repeat(64), "k".repeat(65), "i".repeat(129), true, [], {}, "send", "edit"
    ]
    const keys = ["type", "id", "room", "clientMsgId", "body", "replyTo", "other"]
    for (let i = 0; i < 5_000; i++) {
      const frame: Record<string, unknown> = { ...base }
      const changes = 1 + Math.floor(rnd() * 3)
      for (let c = 0; c < changes; c++) {
        const key = pick(keys)
        if (rnd() < 0.2) delete frame[key]
        else frame[key] = pick(values)
      }
      const text = JSON.stringify(frame)
      const expected = schemaSays(text)
      expect(decodeSendFast(text), text).toStrictEqual(expected)
    }
  })
})
