/**
 * The accepted spellings of a 32-byte key (AES-256 master keys): 64 hex characters, or
 * base64 / base64url of exactly 32 bytes (padding optional). Errors never echo the input.
 */
import { Either } from "effect"
import { base64ToBytes, fromBase64Url } from "../../core/util/base64.ts"

export const KEY_BYTES = 32

export const KEY_FORMAT_HINT = "must be 64 hex characters or base64 of 32 bytes"

const HEX_RE = /^[0-9a-fA-F]{64}$/
// 32 bytes are 43 base64 characters plus one "=" of padding.
const B64_RE = /^[A-Za-z0-9+/_-]{43}=?$/

export const parseKey = (raw: string): Either.Either<Uint8Array, string> => {
  const s = raw.trim()
  if (HEX_RE.test(s)) {
    const out = new Uint8Array(KEY_BYTES)
    for (let i = 0; i < KEY_BYTES; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16)
    return Either.right(out)
  }
  if (B64_RE.test(s)) {
    try {
      const bytes = base64ToBytes(fromBase64Url(s.replace(/=$/, "")))
      if (bytes.length === KEY_BYTES) return Either.right(bytes)
    } catch {
      // fall through to the generic message: the decoder's own may quote the input
    }
  }
  return Either.left(KEY_FORMAT_HINT)
}
