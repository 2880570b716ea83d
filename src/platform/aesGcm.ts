/**
 * AES-256-GCM for message bodies, synchronous, through `node:crypto`. WebCrypto's
 * `crypto.subtle` is async only: each call is a thread-pool job and a promise, about
 * 100 µs for a 100-byte body against about 5 µs here, and a history page decrypts 50.
 *
 * One module for both runtimes: Deno 2 implements `createCipheriv("aes-256-gcm")` with
 * `setAAD`, `getAuthTag`/`setAuthTag` and `createSecretKey` as Node does, with the same
 * output bytes (tests/unit/crypto-compat.test.ts, and the Deno smoke run reads back what it
 * wrote). It lives in platform/ because only entry points and adapters import `node:*`.
 *
 * The output is what WebCrypto's AES-GCM writes: ciphertext followed by the 16-byte tag, so
 * bodies written by either implementation open with the other.
 */
import { Buffer } from "node:buffer"
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto"

declare const AesGcmKeyBrand: unique symbol

/**
 * An imported key: a `KeyObject`, whose bytes live outside the JS heap and are not
 * enumerable, so logging, inspecting or serialising a key shows no key material
 * (`JSON.stringify` gives `{}`). Opaque to the rest of the code.
 */
export interface AesGcmKey {
  readonly [AesGcmKeyBrand]: true
}

const ALGORITHM = "aes-256-gcm"
export const KEY_BYTES = 32
/** The full 128-bit tag, always: a shorter tag accepted on open would weaken authentication. */
export const TAG_BYTES = 16

/** Copies `raw` (the caller may wipe it afterwards). Throws on a key that is not 32 bytes. */
export const importAesGcmKey = (raw: Uint8Array): AesGcmKey => {
  if (raw.length !== KEY_BYTES) throw new RangeError(`AES-256 key must be ${KEY_BYTES} bytes`)
  return createSecretKey(raw) as unknown as AesGcmKey
}

const keyObject = (key: AesGcmKey) => key as unknown as KeyObject

/** `plaintext` encrypted and authenticated with `aad`: ciphertext || 16-byte tag. */
export const seal = (key: AesGcmKey, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array => {
  const cipher = createCipheriv(ALGORITHM, keyObject(key), iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  const body = cipher.update(plaintext)
  // GCM is a stream mode: final() flushes nothing, it computes the tag.
  const rest = cipher.final()
  const tag = cipher.getAuthTag()
  const out = new Uint8Array(body.length + rest.length + tag.length)
  out.set(body, 0)
  out.set(rest, body.length)
  out.set(tag, body.length + rest.length)
  return out
}

/**
 * `seal` for a text body, answering base64 of (ciphertext || tag) and of the IV: the form a
 * stored body takes. The send path seals every message; taking the string as is and encoding
 * with Buffer costs one buffer and two strings, against a UTF-8 copy, four buffers and two
 * base64 passes over spread arrays (about 9 KB of garbage per 100-byte body).
 */
export const sealText = (key: AesGcmKey, iv: Uint8Array, aad: string, plaintext: string): { readonly iv: string; readonly sealed: string } => {
  const cipher = createCipheriv(ALGORITHM, keyObject(key), iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(aad, "utf8"))
  const body = cipher.update(plaintext, "utf8")
  const rest = cipher.final()
  const tag = cipher.getAuthTag()
  const sealed = Buffer.concat([body, rest, tag], body.length + rest.length + tag.length).toString("base64")
  return { iv: Buffer.from(iv.buffer, iv.byteOffset, iv.byteLength).toString("base64"), sealed }
}

/**
 * The plaintext of `sealed` (ciphertext || tag), or undefined when authentication fails
 * (wrong key, IV, additional data, or tampered bytes). Other misuse throws.
 */
export const open = (key: AesGcmKey, iv: Uint8Array, aad: Uint8Array | string, sealed: Uint8Array): Uint8Array | undefined => {
  if (sealed.length < TAG_BYTES) return undefined
  const split = sealed.length - TAG_BYTES
  const decipher = createDecipheriv(ALGORITHM, keyObject(key), iv, { authTagLength: TAG_BYTES })
  decipher.setAAD(typeof aad === "string" ? Buffer.from(aad, "utf8") : aad)
  decipher.setAuthTag(sealed.subarray(split))
  const plain = decipher.update(sealed.subarray(0, split))
  try {
    // Throws when the tag does not verify (Node: Error, Deno: TypeError, same message).
    const rest = decipher.final()
    return rest.length === 0 ? plain : concat(plain, rest)
  } catch {
    // Never hand out, or keep, bytes that failed authentication.
    plain.fill(0)
    return undefined
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/**
 * The bytes of a base64 string that the caller has checked is well formed (the forgiving
 * base64 of `atob`: alphabet, padding). Through Buffer: a history page opens 50 bodies, and
 * `atob` plus a copy loop was a third of the time spent opening one.
 */
export const decodeBase64 = (b64: string): Uint8Array => Buffer.from(b64, "base64")
