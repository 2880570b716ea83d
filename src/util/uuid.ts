/**
 * UUID v7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort by time.
 * Written here because the stack has no uuid library and crypto.randomUUID() only
 * makes v4; this is a dozen lines of bit layout.
 */
import { publicRandomBytes } from "./randomPool.ts"

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

export const uuidv7 = (now: number = Date.now()): string => {
  const bytes = publicRandomBytes(16)
  // 48-bit big-endian timestamp; split because JS bit operators work on 32 bits.
  const hi = Math.floor(now / 2 ** 16)
  const lo = now % 2 ** 16
  bytes[0] = (hi >>> 24) & 0xff
  bytes[1] = (hi >>> 16) & 0xff
  bytes[2] = (hi >>> 8) & 0xff
  bytes[3] = hi & 0xff
  bytes[4] = (lo >>> 8) & 0xff
  bytes[5] = lo & 0xff
  bytes[6] = (bytes[6] & 0x0f) | 0x70 // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80 // variant 10
  let h = ""
  for (let i = 0; i < 16; i++) h += HEX[bytes[i]!]
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
