/**
 * Byte helpers shared by the crypto module. WebCrypto only (globalThis.crypto), so the same code
 * runs on Node >= 20 and Deno.
 */
import { utf8 } from "../../../core/util/base64.ts"

/** WebCrypto wants ArrayBuffer-backed views; a copy also detaches us from the caller's buffer. */
export const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes)

export const randomBytes = (n: number): Uint8Array<ArrayBuffer> => globalThis.crypto.getRandomValues(new Uint8Array(n))

export const toHex = (bytes: Uint8Array): string => {
  let s = ""
  for (const b of bytes) s += b.toString(16).padStart(2, "0")
  return s
}

/** Overwrite key bytes we no longer need: best effort, the GC may have copies, but we keep none. */
export const wipe = (bytes: Uint8Array): void => {
  bytes.fill(0)
}

/**
 * A public identifier for a key: the first 8 bytes of SHA-256(label || 0x00 || key), hex.
 * Stable for a given key, so every node and every run agrees on it; a one-way hash truncated
 * to 64 bits reveals nothing usable about a 256-bit key. The label separates master-key ids
 * from data-key ids so one hash is never reused in two roles.
 */
export const keyId = async (label: string, key: Uint8Array): Promise<string> => {
  const prefix = utf8.encode(`${label}\u0000`)
  const input = new Uint8Array(prefix.length + key.length)
  input.set(prefix, 0)
  input.set(key, prefix.length)
  try {
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", input))
    return toHex(digest.subarray(0, 8))
  } finally {
    wipe(input)
  }
}

export const MASTER_KEY_ID_LABEL = "chat/master-key-id/v1"
export const DATA_KEY_ID_LABEL = "chat/data-key-id/v1"

/** A short, key-free description of a cipher failure (WebCrypto or node:crypto): an error name, never its message. */
export const describe = (e: unknown): string =>
  e instanceof Error ? (e.name === "OperationError" ? "authentication failed" : e.name) : "unknown error"
