/**
 * The AsyncAPI 3 document (/asyncapi.json) is valid for @asyncapi/parser and matches the
 * code: one message per client frame the server decodes, server frames that the server's
 * own encoders produce, and the public NATS subjects.
 */
import { Parser } from "@asyncapi/parser"
import { describe, expect, it } from "vitest"
import { clientFrameTypes, makeAsyncApi } from "../../src/asyncapi/document.ts"
import { decodeFrame } from "../../src/protocol/frames.ts"
import { ackFrame, errorFrame, eventFrame } from "../../src/protocol/serverFrames.ts"
import { NotFound } from "../../core/errors.ts"
import * as Subjects from "../../src/cluster/subjects.ts"

describe("asyncapi", () => {
  it("asyncapi - the document parses and validates with no error", async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(makeAsyncApi({ version: "test" })))
    const errors = diagnostics.filter((d) => d.severity === 0)
    expect(errors.map((d) => `${d.path.join(".")}: ${d.message}`)).toEqual([])
    expect(document).toBeDefined()
    expect(document!.channels().all().map((c) => c.address()).sort()).toEqual(
      ["/v1/ws", "chat.push.{user}", "chat.room.{room}.events", "chat.room.{room}.send"].sort()
    )
  }, 60_000)

  it("asyncapi - a client message per frame type the server decodes, and no other", () => {
    const doc = makeAsyncApi({ version: "test" })
    const documented = Object.keys(doc.channels.socket.messages).filter((n) => n.startsWith("client.")).map((n) => n.slice(7))
    expect(documented).toEqual(clientFrameTypes())
    // An undocumented type is refused as unknown; each documented one is known to the decoder.
    const unknown = decodeFrame(JSON.stringify({ type: "nope" }))
    expect(unknown._tag === "Left" && unknown.left.error.message).toBe("unknown frame type: nope")
    for (const type of documented) {
      const r = decodeFrame(JSON.stringify({ type }))
      expect(r._tag === "Left" ? r.left.error.message : "ok").not.toMatch(/unknown frame type/)
    }
  })

  it("asyncapi - server frames written by the server's encoders carry the documented required fields", () => {
    const doc = makeAsyncApi({ version: "test" }) as any
    const required = (type: string) => doc.components.messages[`server.${type}`].payload.required as string[]
    const room = "0190d7e4-0000-7000-8000-000000000000"
    const samples: Record<string, object> = {
      event: JSON.parse(eventFrame({ room: room as any, seq: 1, ts: "t", kind: "message.created", actor: "a" as any, data: {} })),
      ack: JSON.parse(ackFrame("1", { room: room as any, seq: 1, ts: "t" })),
      error: JSON.parse(errorFrame("1", new NotFound({ message: "room not found" })))
    }
    for (const [type, frame] of Object.entries(samples)) {
      expect(Object.keys(frame)).toEqual(expect.arrayContaining(required(type)))
    }
    // The public subjects are the ones the node uses (empty prefix).
    const s = Subjects.make("")
    expect(s.roomSend("{room}")).toBe(doc.channels.roomSend.address)
    expect(s.roomEvents("{room}")).toBe(doc.channels.roomEvents.address)
    expect(s.push("{user}")).toBe(doc.channels.push.address)
  })
})
