/**
 * Message bodies at rest: AES-256-GCM under the room's data key, written as the self-describing
 * string `v1.<dataKeyId>.<iv base64>.<ciphertext+tag base64>`, so every ciphertext names the key
 * it needs and old bodies stay readable after keys change.
 *
 * The additional data is `v1.<dataKeyId>.<room>`: it authenticates the header (nobody can relabel
 * the key id) and binds the body to its room, so a body copied into another room's row fails
 * to decrypt instead of showing up there.
 */
import { Effect, Option } from "effect"
import { base64ToBytes, bytesToBase64, utf8, utf8Decode } from "../util/base64.ts"
import { DecryptFailed, EncryptFailed } from "./errors.ts"
import { describe, own, randomBytes } from "./internal/bytes.ts"

/** A room's data key, imported for AES-GCM and not extractable. `id` is public. */
export interface DataKey {
  readonly id: string
  readonly key: CryptoKey
}

const VERSION = "v1"
/** 96-bit IVs are what GCM is specified for; random ones are safe far beyond a room's message count (2^32 per key). */
export const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_ID_RE = /^[0-9a-f]{16}$/
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/

export interface ParsedBody {
  readonly keyId: string
  readonly iv: Uint8Array<ArrayBuffer>
  readonly sealed: Uint8Array<ArrayBuffer>
}

const aad = (keyId: string, room: string) => utf8.encode(`${VERSION}.${keyId}.${room}`)

/** The parts of a ciphertext, or none when the string is not one this module wrote. */
export const parseBody = (text: string): Option.Option<ParsedBody> => {
  const parts = text.split(".")
  if (parts.length !== 4 || parts[0] !== VERSION || !KEY_ID_RE.test(parts[1])) return Option.none()
  if (!B64_RE.test(parts[2]) || !B64_RE.test(parts[3])) return Option.none()
  try {
    const iv = own(base64ToBytes(parts[2]))
    const sealed = own(base64ToBytes(parts[3]))
    if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) return Option.none()
    return Option.some({ keyId: parts[1], iv, sealed })
  } catch {
    return Option.none()
  }
}

/** The data key id a stored body names, without decrypting it. */
export const bodyKeyId = (text: string): Option.Option<string> => {
  const parts = text.split(".", 3)
  return parts.length >= 3 && parts[0] === VERSION && KEY_ID_RE.test(parts[1]) ? Option.some(parts[1]) : Option.none()
}

export const encryptBody = (key: DataKey, room: string, plaintext: string): Effect.Effect<string, EncryptFailed> =>
  Effect.tryPromise({
    try: async () => {
      const iv = randomBytes(IV_BYTES)
      const sealed = await globalThis.crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: aad(key.id, room), tagLength: TAG_BYTES * 8 },
        key.key,
        utf8.encode(plaintext)
      )
      return `${VERSION}.${key.id}.${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(sealed))}`
    },
    catch: (e) => new EncryptFailed({ kind: "data", keyId: key.id, reason: describe(e) })
  })

export const decryptBody = (key: DataKey, room: string, ciphertext: string): Effect.Effect<string, DecryptFailed> => {
  const parsed = parseBody(ciphertext)
  if (Option.isNone(parsed)) {
    return Effect.fail(new DecryptFailed({ kind: "data", keyId: key.id, room, reason: "not a v1 ciphertext" }))
  }
  const { iv, keyId, sealed } = parsed.value
  if (keyId !== key.id) {
    return Effect.fail(
      new DecryptFailed({ kind: "data", keyId: key.id, room, reason: `ciphertext names data key ${keyId}` })
    )
  }
  return Effect.tryPromise({
    try: async () => {
      const plain = await globalThis.crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: aad(keyId, room), tagLength: TAG_BYTES * 8 },
        key.key,
        sealed
      )
      return utf8Decode.decode(plain)
    },
    catch: (e) => new DecryptFailed({ kind: "data", keyId, room, reason: describe(e) })
  })
}
