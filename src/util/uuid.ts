/**
 * UUID v7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort by time.
 * Written here because the stack has no uuid library and crypto.randomUUID() only
 * makes v4; this is a dozen lines of bit layout.
 */
import { publicRandomView } from "./randomPool.ts"

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

export const uuidv7 = (now: number = Date.now()): string => {
  const { pool: r, at } = publicRandomView(10)
  // 48-bit big-endian timestamp; split because JS bit operators work on 32 bits.
  const hi = Math.floor(now / 2 ** 16)
  const lo = now % 2 ** 16
  // One template over per-byte hex strings: no byte array and no intermediate slices.
  return (
    `${HEX[(hi >>> 24) & 0xff]}${HEX[(hi >>> 16) & 0xff]}${HEX[(hi >>> 8) & 0xff]}${HEX[hi & 0xff]}-` +
    `${HEX[(lo >>> 8) & 0xff]}${HEX[lo & 0xff]}-` +
    // version 7, then variant 10
    `${HEX[(r[at]! & 0x0f) | 0x70]}${HEX[r[at + 1]!]}-${HEX[(r[at + 2]! & 0x3f) | 0x80]}${HEX[r[at + 3]!]}-` +
    `${HEX[r[at + 4]!]}${HEX[r[at + 5]!]}${HEX[r[at + 6]!]}${HEX[r[at + 7]!]}${HEX[r[at + 8]!]}${HEX[r[at + 9]!]}`
  )
}
