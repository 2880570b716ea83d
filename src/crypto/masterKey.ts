/**
 * Master keys as configured (CHAT_MASTER_KEY, CHAT_MASTER_KEYS_OLD): 32 bytes written as hex
 * (64 characters) or base64 / base64url (43-44 characters). Errors never quote the input, since
 * the input is the secret.
 */
import { Either } from "effect"
import { base64ToBytes, fromBase64Url } from "../../core/util/base64.ts"
import { InvalidMasterKey } from "./errors.ts"
import { randomBytes, toHex } from "./internal/bytes.ts"

/** AES-256: the only key size we accept, for master and data keys alike. */
export const KEY_BYTES = 32

const HEX_RE = /^[0-9a-fA-F]{64}$/
const B64_RE = /^[A-Za-z0-9+/_-]{43}={0,1}$/

export const decodeMasterKey = (text: string): Either.Either<Uint8Array, InvalidMasterKey> => {
  const t = text.trim()
  if (HEX_RE.test(t)) {
    const out = new Uint8Array(KEY_BYTES)
    for (let i = 0; i < KEY_BYTES; i++) out[i] = parseInt(t.slice(i * 2, i * 2 + 2), 16)
    return Either.right(out)
  }
  if (B64_RE.test(t)) {
    try {
      const bytes = base64ToBytes(fromBase64Url(t.replace(/=+$/, "")))
      if (bytes.length === KEY_BYTES) return Either.right(bytes)
    } catch {
      // fall through to the one error below
    }
  }
  return Either.left(
    new InvalidMasterKey({ reason: `expected ${KEY_BYTES} bytes as 64 hex characters or base64 (length ${t.length})` })
  )
}

/** Several keys in one setting (CHAT_MASTER_KEYS_OLD), separated by commas or whitespace. */
export const decodeMasterKeyList = (text: string): Either.Either<ReadonlyArray<Uint8Array>, InvalidMasterKey> => {
  const parts = text.split(/[\s,]+/).filter((p) => p.length > 0)
  const out: Array<Uint8Array> = []
  for (const [i, part] of parts.entries()) {
    const decoded = decodeMasterKey(part)
    if (Either.isLeft(decoded)) {
      return Either.left(new InvalidMasterKey({ reason: `entry ${i + 1}: ${decoded.left.reason}` }))
    }
    out.push(decoded.right)
  }
  return Either.right(out)
}

/** A fresh master key as hex, for embedded mode to write into the data dir on first start. */
export const generateMasterKeyHex = (): string => toHex(randomBytes(KEY_BYTES))
