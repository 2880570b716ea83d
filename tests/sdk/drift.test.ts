/**
 * The SDK's protocol types and lists (clients/js/src/protocol.ts) against the server's
 * Schemas and tables, so the two cannot drift: the type checks fail `tsc`, the rest fail here.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Sdk from "../../clients/js/src/index.ts"
import type { Ack, Message, Room, RoomSummary } from "../../src/domain/model.ts"
import { EventKind } from "../../src/domain/model.ts"
import { errorTable } from "../../src/protocol/errorMap.ts"
import { ClientFrame, decodeFrame } from "../../src/protocol/frames.ts"

// --- compile-time: `npx tsc --noEmit` fails when these stop holding ---------------------
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type SameKeys<A, B> = Mutual<keyof A, keyof B>
const holds = <T extends true>(_: T) => undefined

// Every client frame the server decodes is one the SDK can build, and the other way round.
holds<Mutual<Sdk.ClientFrame, typeof ClientFrame.Encoded>>(true)
// The server's shapes fit the SDK's (the server's ids are branded strings), field for field.
holds<Mutual<[Message] extends [Sdk.Message] ? true : false, true>>(true)
holds<SameKeys<Message, Sdk.Message>>(true)
holds<Mutual<[Room] extends [Sdk.Room] ? true : false, true>>(true)
holds<SameKeys<Room, Sdk.Room>>(true)
holds<Mutual<[RoomSummary] extends [Sdk.RoomSummary] ? true : false, true>>(true)
holds<SameKeys<RoomSummary, Sdk.RoomSummary>>(true)
holds<Mutual<[Ack] extends [Sdk.Ack] ? true : false, true>>(true)
holds<Mutual<Sdk.EventKind, typeof EventKind.Type>>(true)

/** A WebSocket that records what the SDK sends, for checking frames against the server's decoder. */
class RecordingSocket {
  static last: RecordingSocket | undefined
  readyState = 0
  readonly sent: string[] = []
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: unknown) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  constructor(readonly url: string) {
    RecordingSocket.last = this
  }
  send(data: string) {
    this.sent.push(data)
  }
  close() {
    this.readyState = 3
  }
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
}

describe("sdk - protocol drift", () => {
  it("sdk - event kinds and error codes are the server's", () => {
    expect([...Sdk.EVENT_KINDS].sort()).toEqual([...EventKind.literals].sort())
    expect([...Sdk.ERROR_CODES].sort()).toEqual([...new Set(Object.values(errorTable).map((e) => e.code))].sort())
  })

  it("sdk - every frame the SDK sends is accepted by the server's decoder", async () => {
    const client = Sdk.connect({ url: "http://127.0.0.1:1", token: "t", WebSocket: RecordingSocket, pingIntervalMs: 0 })
    // The token is read before the socket is made.
    await new Promise((resolve) => setTimeout(resolve, 0))
    const ws = RecordingSocket.last!
    expect(ws.url).toBe("ws://127.0.0.1:1/v1/ws?access_token=t")
    ws.open()
    const room = client.room("0193A7B2-0000-7000-8000-000000000001", { since: 3 })
    void room.send("hi", { replyTo: 1 }).catch(() => undefined)
    void room.edit(1, "hi!").catch(() => undefined)
    void room.delete(1).catch(() => undefined)
    void room.react(1, "👍", { remove: true }).catch(() => undefined)
    void room.read(2).catch(() => undefined)
    room.typing()
    void room.history({ before: 4, pageSize: 10 }).next().catch(() => undefined)
    room.leave()
    client.close()
    const types = ws.sent.map((t) => JSON.parse(t).type)
    expect(types).toEqual(["subscribe", "send", "edit", "delete", "react", "read", "typing", "history", "unsubscribe"])
    for (const text of ws.sent) expect(Either.isRight(decodeFrame(text)), text).toBe(true)
    expect(JSON.parse(ws.sent[0])).toMatchObject({ room: "0193a7b2-0000-7000-8000-000000000001", since: 3 })
  })
})
