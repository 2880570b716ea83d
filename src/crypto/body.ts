/**
 * Message bodies at rest: AES-256-GCM under the room's data key, written as the self-describing
 * string `v1.<dataKeyId>.<iv base64>.<ciphertext+tag base64>`, so every ciphertext names the key
 * it needs and old bodies stay readable after keys change.
 *
 * Two versions, both readable:
 * - `v2` (written since): additional data `v2.<dataKeyId>.<room>.<messageId>`. The message id
 *   (a UUID chosen once, when the message is sent) is the message's identity: it never
 *   changes with edits, is copied as is by the ScyllaDB backfill, and is known both where
 *   a body is sealed (the send; an edit loads its target) and wherever one is read
 *   (history, events, the room list). The seq is not: it is assigned inside the store,
 *   after sealing. So a body copied or swapped into another message's row, in the same
 *   room or not, fails to decrypt instead of showing one user's text under another's name.
 * - `v1` (earlier rows, and an edit whose target is not stored yet, e.g. sent in the same
 *   batch): additional data `v1.<dataKeyId>.<room>`, binding the room only.
 * Either way the additional data authenticates the header (nobody can relabel the key id
 * or the version).
 *
 * Synchronous (src/platform/aesGcm.ts): a body costs a few microseconds, so callers decrypt a
 * page in a plain loop. The bytes are the ones WebCrypto wrote before (ciphertext || tag), so
 * bodies stored by earlier versions open unchanged.
 */
import { Effect, Either, Option } from "effect"
import { type AesGcmKey, decodeBase64, open, sealText, TAG_BYTES } from "../platform/aesGcm.ts"
import { utf8, utf8Decode } from "../../core/util/base64.ts"
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

const V1 = "v1"
const V2 = "v2"
/** 96-bit IVs are what GCM is specified for; random ones are safe far beyond a room's message count (2^32 per key). */
export const IV_BYTES = 12
const KEY_ID_RE = /^[0-9a-f]{16}$/
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/

export interface ParsedBody {
  readonly version: typeof V1 | typeof V2
  readonly keyId: string
  readonly iv: Uint8Array
  readonly sealed: Uint8Array
}

/**
 * What `atob` accepts, for a string of the base64 alphabet with optional trailing `=`: padding
 * only on a multiple of four characters, and never one character left over.
 */
const isBase64 = (s: string): boolean => B64_RE.test(s) && (s.length % 4 === 0 || (s.length % 4 !== 1 && !s.endsWith("=")))

const aadV1 = (keyId: string, room: string) => utf8.encode(`${V1}.${keyId}.${room}`)
const isVersion = (v: string | undefined): v is typeof V1 | typeof V2 => v === V1 || v === V2

/** The parts of a ciphertext, or none when the string is not one this module wrote. */
export const parseBody = (text: string): Option.Option<ParsedBody> => {
  const parts = text.split(".")
  const version = parts[0]
  if (parts.length !== 4 || !isVersion(version) || !KEY_ID_RE.test(parts[1])) return Option.none()
  if (!isBase64(parts[2]) || !isBase64(parts[3])) return Option.none()
  try {
    const iv = decodeBase64(parts[2])
    const sealed = decodeBase64(parts[3])
    if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) return Option.none()
    return Option.some({ version, keyId: parts[1], iv, sealed })
  } catch {
    return Option.none()
  }
}

/** The data key id a stored body names, without decrypting it. */
export const bodyKeyId = (text: string): Option.Option<string> => {
  const parts = text.split(".", 3)
  return parts.length >= 3 && isVersion(parts[0]) && KEY_ID_RE.test(parts[1]) ? Option.some(parts[1]) : Option.none()
}

/**
 * `plaintext` sealed for message `messageId` of `room` under `key` (v2), or for the room
 * alone (v1) when the message id is not known; the stored string; synchronous.
 */
export const sealBody = (
  key: DataKey,
  room: string,
  plaintext: string,
  messageId?: string
): Either.Either<string, EncryptFailed> => {
  try {
    // An IV is public and must never repeat under a key: 96 fresh CSPRNG bits each time.
    const iv = publicRandomBytes(IV_BYTES)
    const version = messageId === undefined ? V1 : V2
    const additional = messageId === undefined ? `${V1}.${key.id}.${room}` : `${V2}.${key.id}.${room}.${messageId}`
    const sealed = sealText(key.key, iv, additional, plaintext)
    return Either.right(`${version}.${key.id}.${sealed.iv}.${sealed.sealed}`)
  } catch (e) {
    return Either.left(new EncryptFailed({ kind: "data", keyId: key.id, reason: describe(e) }))
  }
}

/**
 * Opens stored bodies of `room` under `key`, synchronously; each with the id of the message
 * whose row it was read from (a v2 body opens only there). The v1 additional data, the same
 * for every body of a page, is built once.
 */
export const bodyOpener = (
  key: DataKey,
  room: string
): ((ciphertext: string, messageId?: string) => Either.Either<string, DecryptFailed>) => {
  const additionalV1 = aadV1(key.id, room)
  return (ciphertext, messageId) => {
    const parsed = parseBody(ciphertext)
    if (Option.isNone(parsed)) {
      return Either.left(new DecryptFailed({ kind: "data", keyId: key.id, room, reason: "not a v1 or v2 ciphertext" }))
    }
    const { iv, keyId, sealed, version } = parsed.value
    if (version === V2 && messageId === undefined) {
      return Either.left(new DecryptFailed({ kind: "data", keyId, room, reason: "a v2 ciphertext needs its message id" }))
    }
    const additional = version === V1 ? additionalV1 : `${V2}.${key.id}.${room}.${messageId!}`
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
export const openBody = (
  key: DataKey,
  room: string,
  ciphertext: string,
  messageId?: string
): Either.Either<string, DecryptFailed> => bodyOpener(key, room)(ciphertext, messageId)

export const encryptBody = (
  key: DataKey,
  room: string,
  plaintext: string,
  messageId?: string
): Effect.Effect<string, EncryptFailed> => Effect.suspend(() => sealBody(key, room, plaintext, messageId))

export const decryptBody = (
  key: DataKey,
  room: string,
  ciphertext: string,
  messageId?: string
): Effect.Effect<string, DecryptFailed> => Effect.suspend(() => openBody(key, room, ciphertext, messageId))
