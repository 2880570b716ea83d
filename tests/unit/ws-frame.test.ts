/** The framed text of src/platform/wsFrame.ts: the bytes `ws` itself would write, readable by a WebSocket parser. */
import { Buffer } from "node:buffer"
import { describe, expect, it } from "vitest"
import * as wsModule from "ws"
import { textFrame } from "../../src/platform/wsFrame.ts"

// ws's own framing and parsing, which @types/ws does not declare.
const { Receiver, Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: object): Array<Buffer> }
  Receiver: new (options: { isServer: boolean }) => NodeJS.WritableStream & {
    on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void
    on(event: "error", listener: (error: Error) => void): void
  }
}

// What `ws` writes for `ws.send(text)` on a server socket with no extension.
const wsBytes = (text: string): Buffer => {
  const data = Buffer.from(text, "utf8")
  return Buffer.concat(Sender.frame(data, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }))
}

// Every text a client reads from `bytes`, parsed by `ws`'s own client-side receiver.
const read = (bytes: Buffer): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    const texts: Array<string> = []
    const receiver = new Receiver({ isServer: false })
    receiver.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) reject(new Error("binary frame"))
      else texts.push(data.toString("utf8"))
    })
    receiver.on("error", reject)
    receiver.write(bytes, () => resolve(texts))
  })

const texts: Array<[string, string]> = [
  ["empty", ""],
  ["125 bytes (7-bit length)", "a".repeat(125)],
  ["126 bytes (16-bit length)", "b".repeat(126)],
  ["65535 bytes", "c".repeat(65535)],
  ["65536 bytes (64-bit length)", "d".repeat(65536)],
  ["100 characters but 400 bytes", "\u{1F600}".repeat(50) + "é".repeat(100) + "x"],
  ["a JSON event frame", JSON.stringify({ type: "event", room: "r", seq: 7, data: { body: "héllo \u{1F44B}" } })]
]

describe("textFrame", () => {
  it.each(texts)("%s: the bytes ws writes, and read back as the same text", async (_name, text) => {
    const frame = textFrame(text)
    expect(frame.equals(wsBytes(text))).toBe(true)
    expect(await read(frame)).toEqual([text])
  })

  it("a lone surrogate is written as U+FFFD, as ws writes it", async () => {
    const text = `{"body":"a\ud800b"}`
    const frame = textFrame(text)
    expect(frame.equals(wsBytes(text))).toBe(true)
    expect(await read(frame)).toEqual([`{"body":"a\ufffdb"}`])
  })

  it("frames written back to back are read as separate messages", async () => {
    const all = ["one", "x".repeat(300), "three"]
    expect(await read(Buffer.concat(all.map(textFrame)))).toEqual(all)
  })
})
