/**
 * Every client-supplied string stored unencrypted refuses U+0000 at the edge (PostgreSQL text
 * cannot hold it): WebSocket frames, REST bodies, the NATS ingress and the token `sub`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted, Schema } from "effect"
import { make, signToken } from "../../src/auth/Auth.ts"
import { SendRequest } from "../../src/cluster/Ingress.ts"
import { Unauthorized } from "../../core/errors.ts"
import { ClientMsgId, UserId } from "../../core/model.ts"
import { decodeFrame, formatIssue } from "../../src/protocol/frames.ts"
import * as Rest from "../../src/protocol/rest.ts"

const NUL = "\u0000"
const ROOM = "0190d6a4-0000-7000-8000-000000000000"
const NUL_MESSAGE = "must not contain NUL (U+0000) characters"

/** The bad_request message a REST body would get, or undefined when it decodes. */
const restIssue = <A, I>(schema: Schema.Schema<A, I>, input: unknown): string | undefined =>
  Either.match(Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })(input), {
    onLeft: formatIssue,
    onRight: () => undefined
  })

const frameIssue = (frame: object): string | undefined =>
  Either.match(decodeFrame(JSON.stringify(frame)), { onLeft: ({ error }) => error.message, onRight: () => undefined })

describe("nul", () => {
  it("nul - ids and clientMsgIds refuse U+0000 anywhere in the string, and accept other control characters", () => {
    for (const s of [NUL, `a${NUL}`, `${NUL}a`, `a${NUL}b`]) {
      expect(Schema.is(UserId)(s)).toBe(false)
      expect(Schema.is(ClientMsgId)(s)).toBe(false)
    }
    expect(Schema.is(UserId)("a\u0001b\tc")).toBe(true)
    expect(Schema.is(ClientMsgId)("é👍")).toBe(true)
  })

  it("nul - WebSocket frames name the field and never echo the value", () => {
    const send = frameIssue({ type: "send", id: "1", room: ROOM, clientMsgId: `a${NUL}b`, body: "hi" })
    expect(send).toBe(`clientMsgId: ${NUL_MESSAGE}`)
    expect(frameIssue({ type: "react", room: ROOM, seq: 1, emoji: `👍${NUL}` })).toBe(`emoji: ${NUL_MESSAGE}`)
    // Bodies are stored encrypted, so they may carry any character.
    expect(frameIssue({ type: "send", room: ROOM, clientMsgId: "c1", body: `a${NUL}b` })).toBeUndefined()
    expect(frameIssue({ type: "edit", room: ROOM, seq: 1, body: NUL })).toBeUndefined()
  })

  it("nul - REST bodies refuse U+0000 in names, member ids, clientMsgIds and device tokens", () => {
    expect(restIssue(Rest.CreateRoom, { kind: "group", name: `a${NUL}` })).toContain(NUL_MESSAGE)
    expect(restIssue(Rest.CreateRoom, { kind: "group", name: "a", members: ["bob", `c${NUL}`] })).toContain(NUL_MESSAGE)
    expect(restIssue(Rest.CreateRoom, { kind: "direct", with: `b${NUL}` })).toContain(NUL_MESSAGE)
    expect(restIssue(Rest.PatchRoom, { name: NUL })).toBe(`name: ${NUL_MESSAGE}`)
    expect(restIssue(Rest.AddMembers, { users: [`x${NUL}`] })).toBe(`users.0: ${NUL_MESSAGE}`)
    expect(restIssue(Rest.PostMessage, { body: NUL, clientMsgId: `c${NUL}` })).toBe(`clientMsgId: ${NUL_MESSAGE}`)
    expect(restIssue(Rest.PostDevice, { token: `t${NUL}`, platform: "fcm" })).toBe(`token: ${NUL_MESSAGE}`)
    expect(Schema.is(Rest.DeviceToken)(`t${NUL}`)).toBe(false)
    // The same shapes without NUL still decode.
    expect(restIssue(Rest.CreateRoom, { kind: "group", name: "a", members: ["bob"] })).toBeUndefined()
    expect(restIssue(Rest.PostMessage, { body: NUL, clientMsgId: "c1" })).toBeUndefined()
    expect(restIssue(Rest.PostDevice, { token: "t", platform: "fcm" })).toBeUndefined()
  })

  it("nul - the NATS send ingress refuses U+0000 in sender and clientMsgId", () => {
    expect(restIssue(SendRequest, { sender: `s${NUL}`, body: "b", clientMsgId: "c" })).toBe(`sender: ${NUL_MESSAGE}`)
    expect(restIssue(SendRequest, { sender: "s", body: "b", clientMsgId: `c${NUL}` })).toBe(`clientMsgId: ${NUL_MESSAGE}`)
  })

  it.effect("nul - a token whose sub contains U+0000 is refused as unauthorized", () =>
    Effect.gen(function* () {
      const secret = "test-secret-test-secret-test-secret!"
      const auth = yield* make({ secret: Redacted.make(secret) })
      const error = yield* Effect.flip(auth.verify(yield* signToken(secret, `alice${NUL}`)))
      expect(error).toBeInstanceOf(Unauthorized)
      expect(error.message).toBe("token sub must not contain NUL (U+0000) characters")
      expect(yield* auth.verify(yield* signToken(secret, "alice"))).toBe("alice")
    }))
})
