/**
 * A server-to-client WebSocket text frame (RFC 6455 section 5.2: FIN, opcode 1, no mask, no
 * extension bits) as one Buffer: header and UTF-8 payload together.
 *
 * Written here rather than through `ws`'s `send` because the hot path sends the same event to
 * every subscriber of a room: `ws` builds two option objects, a header buffer and a two-part
 * list per send, writes header and text as two chunks, and encodes the text to UTF-8 again
 * for every socket. One framed buffer is made once per text and written as one chunk to each
 * socket. Only valid where `ws` would write the same bytes: an open socket with no
 * extension negotiated (the Node adapter checks both, and uses `ws.send` otherwise).
 */
import { Buffer } from "node:buffer"

/** The whole frame for `text`. Lone surrogates become U+FFFD, as `ws` (and Node) encode them. */
export const textFrame = (text: string): Buffer => {
  const length = Buffer.byteLength(text, "utf8")
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(header + length)
  frame[0] = 0x81
  if (header === 2) {
    frame[1] = length
  } else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    // 64-bit length; a JS string's UTF-8 form is far below 2^53, so the top 16 bits are 0.
    frame[1] = 127
    frame.writeUInt16BE(0, 2)
    frame.writeUIntBE(length, 4, 6)
  }
  frame.write(text, header, "utf8")
  return frame
}
