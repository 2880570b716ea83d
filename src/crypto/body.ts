/**
 * Message bodies at rest: AES-256-GCM under the room's data key, written as the self-describing
 * string `v1.<dataKeyId>.<iv base64>.<ciphertext+tag base64>`, so every ciphertext names the key
 * it needs and old bodies stay readable after keys change.
 *
 * The additional data is `v1.<dataKeyId>.<room>`: it authenticates the header (nobody can relabel
 * the key id) and binds the body to its room, so a body copied into another room's row fails
 * to decrypt instead of showing up there.
 *
 * Synchronous (src/platform/aesGcm.ts): a body costs a few microseconds, so callers decrypt a
 * page in a plain loop. The bytes are the ones WebCrypto wrote before (ciphertext || tag), so
 * bodies stored by earlier versions open unchanged.
 */
import { Effect, Either, Option } from "effect"
import { type AesGcmKey, open, seal, TAG_BYTES } from "../platform/aesGcm.ts"
import { base64ToBytes, bytesToBase64, utf8, utf8Decode } from "../../core/util/base64.ts"
import { DecryptFailed, EncryptFailed } from "./errors.ts"
import { describe } from "./internal/bytes.ts"
import { publicRandomBytes } from "../util/randomPool.ts"

/**
 * A room's data key. `id` is public; `key` is an opaque handle whose bytes are not reachable
 * from it (nothing enumerable, `JSON.stringify` gives `{}`), so a logged key logs no material.
 */
export interface DataKey {
  readonly id: string
  readonly key: AesGcmKey
}

const VERSION = "v1"
/** 96-bit IVs are what GCM is specified for; random ones are safe far beyond a room's message count (2^32 per key). */
export const IV_BYTES = 12
const KEY_ID_RE = /^[0-9a-f]{16}$/
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/

export interface ParsedBody {
  readonly keyId: string
  readonly iv: Uint8Array
  readonly sealed: Uint8Array
}

const aad = (keyId: string, room: string) => utf8.encode(`${VERSION}.${keyId}.${room}`)

/** The parts of a ciphertext, or none when the string is not one this module wrote. */
export const parseBody = (text: string): Option.Option<ParsedBody> => {
  const parts = text.split(".")
  if (parts.length !== 4 || parts[0] !== VERSION || !KEY_ID_RE.test(parts[1])) return Option.none()
  if (!B64_RE.test(parts[2]) || !B64_RE.test(parts[3])) return Option.none()
  try {
    const iv = base64ToBytes(parts[2])
    const sealed = base64ToBytes(parts[3])
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

/** `plaintext` sealed for `room` under `key`, as the stored string; synchronous. */
export const sealBody = (key: DataKey, room: string, plaintext: string): Either.Either<string, EncryptFailed> => {
  try {
    // An IV is public and must never repeat under a key: 96 fresh CSPRNG bits each time.
    const iv = publicRandomBytes(IV_BYTES)
    const sealed = seal(key.key, iv, aad(key.id, room), utf8.encode(plaintext))
    return Either.right(`${VERSION}.${key.id}.${bytesToBase64(iv)}.${bytesToBase64(sealed)}`)
  } catch (e) {
    return Either.left(new EncryptFailed({ kind: "data", keyId: key.id, reason: describe(e) }))
  }
}

/**
 * Opens stored bodies of `room` under `key`, synchronously; the additional data, the same for
 * every body of a page, is built once.
 */
export const bodyOpener = (key: DataKey, room: string): ((ciphertext: string) => Either.Either<string, DecryptFailed>) => {
  const additional = aad(key.id, room)
  return (ciphertext) => {
    const parsed = parseBody(ciphertext)
    if (Option.isNone(parsed)) {
      return Either.left(new DecryptFailed({ kind: "data", keyId: key.id, room, reason: "not a v1 ciphertext" }))
    }
    const { iv, keyId, sealed } = parsed.value
    if (keyId !== key.id) {
      return Either.left(
        new DecryptFailed({ kind: "data", keyId: key.id, room, reason: `ciphertext names data key ${keyId}` })
      )
    }
    try {
      const plain = open(key.key, iv, additional, sealed)
      // The reason WebCrypto's OperationError was described with, so logs read as before.
      if (plain === undefined) return Either.left(new DecryptFailed({ kind: "data", keyId, room, reason: "authentication failed" }))
      return Either.right(utf8Decode.decode(plain))
    } catch (e) {
      // Not UTF-8 (a TypeError from the fatal decoder) or a refused key: typed, never a defect.
      return Either.left(new DecryptFailed({ kind: "data", keyId, room, reason: describe(e) }))
    }
  }
}

/** The plaintext of one stored body of `room` under `key`; synchronous. */
export const openBody = (key: DataKey, room: string, ciphertext: string): Either.Either<string, DecryptFailed> =>
  bodyOpener(key, room)(ciphertext)

export const encryptBody = (key: DataKey, room: string, plaintext: string): Effect.Effect<string, EncryptFailed> =>
  Effect.suspend(() => sealBody(key, room, plaintext))

export const decryptBody = (key: DataKey, room: string, ciphertext: string): Effect.Effect<string, DecryptFailed> =>
  Effect.suspend(() => openBody(key, room, ciphertext))
