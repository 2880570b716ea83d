/** Validation errors a person can act on: each bad field once, in words; all missing fields at once. */
import { Effect, Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import type { Chat } from "../../src/chat/Chat.ts"
import { handleSend, SendRequest } from "../../src/cluster/Ingress.ts"
import { decodeFrame, formatIssue } from "../../src/protocol/frames.ts"
import * as Rest from "../../src/protocol/rest.ts"

const ROOM = "0190d6a4-0000-7000-8000-000000000000"
const issue = <A, I>(schema: Schema.Schema<A, I>, input: unknown): string | undefined =>
  Either.match(Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore", errors: "all" })(input), {
    onLeft: formatIssue,
    onRight: () => undefined
  })
const frameIssue = (frame: object) =>
  Either.match(decodeFrame(JSON.stringify(frame)), { onLeft: ({ error }) => error.message, onRight: () => undefined })

/** A chat service that must not be reached: every case here is refused at the edge. */
const unreachable = new Proxy({}, { get: () => () => Effect.die("chat reached") }) as unknown as Chat

describe("validation", () => {
  it("validation - an out-of-range optional limit is named once, with its bounds", () => {
    expect(issue(Rest.ListRoomsQuery, { limit: "500" })).toBe("limit: must be between 1 and 200")
    expect(issue(Rest.HistoryQuery, { limit: "0" })).toBe("limit: must be between 1 and 200")
    expect(issue(Rest.HistoryQuery, { limit: "1.5" })).toBe("limit: must be an integer")
    expect(frameIssue({ type: "history", room: ROOM, limit: 500 })).toBe("limit: must be between 1 and 200")
  })

  it("validation - every bad field of a frame is listed", () => {
    expect(frameIssue({ type: "send" })).toBe("room: is missing; clientMsgId: is missing; body: is missing")
  })

  it.each([
    ["toString"],
    ["constructor"],
    ["__proto__"],
    ["hasOwnProperty"],
    ["valueOf"]
  ])("frames - type %s is an unknown frame type", (type) => {
    expect(frameIssue({ type })).toBe(`unknown frame type: ${type}`)
  })

  it("frames - nesting is bounded before decoding", () => {
    const deep = "[".repeat(5000) + "]".repeat(5000)
    expect(Either.getLeft(decodeFrame(`{"type":"ping","id":${deep}}`)).pipe((l) => l._tag === "Some" && l.value.error.message)).toBe(
      "JSON nested deeper than 32 levels"
    )
    // Brackets inside strings do not count.
    expect(Either.isRight(decodeFrame(JSON.stringify({ type: "ping", id: "[".repeat(100) })))).toBe(true)
  })

  it("validation - a NATS send missing several fields lists all of them", async () => {
    expect(issue(SendRequest, {})).toBe("sender: is missing; body: is missing; clientMsgId: is missing")
    const reply = JSON.parse(await Effect.runPromise(handleSend(unreachable, `chat.room.${ROOM}.send`, "{}")))
    expect(reply).toEqual({
      ok: false,
      error: { code: "bad_request", message: "sender: is missing; body: is missing; clientMsgId: is missing" }
    })
  })

  it("utf16 - the NATS send ingress refuses unpaired surrogates in sender, clientMsgId and body", async () => {
    for (const [field, value] of [["sender", "s\ud800"], ["clientMsgId", "\udc00c"], ["body", "b\ud800"]]) {
      const payload = JSON.stringify({ sender: "s", body: "b", clientMsgId: "c", [field]: value })
      const reply = JSON.parse(await Effect.runPromise(handleSend(unreachable, `chat.room.${ROOM}.send`, payload)))
      expect(reply).toEqual({ ok: false, error: { code: "bad_request", message: `${field}: must be well-formed Unicode (no unpaired surrogate)` } })
    }
  })
})
