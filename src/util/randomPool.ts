/**
 * Random bytes for public values (IVs, UUIDs), drawn from the CSPRNG 4 KiB at a time.
 * `crypto.getRandomValues` has a fixed cost per call (WebIDL checks, a native call) that
 * dominated for 12 or 16 bytes: ~2.7 % of a node's CPU at 1,000 messages/s (an IV per body
 * and a UUID per message). Each pooled byte is handed out once. Not for keys: key material
 * comes from `getRandomValues` directly, so no copy of it lingers in a pool.
 */
const POOL_BYTES = 4096
const pool = new Uint8Array(POOL_BYTES)
let offset = POOL_BYTES

/** `n` fresh random bytes (n <= 256) in a new array. */
export const publicRandomBytes = (n: number): Uint8Array<ArrayBuffer> => {
  if (n > 256) return globalThis.crypto.getRandomValues(new Uint8Array(n))
  if (offset + n > POOL_BYTES) {
    globalThis.crypto.getRandomValues(pool)
    offset = 0
  }
  const out = pool.slice(offset, offset + n)
  offset += n
  return out
}

/**
 * `n` fresh random bytes (n <= 256) read in place: the pool and the offset of the bytes,
 * valid until the next call. For callers that only read them (a UUID's hex), which then
 * allocate no array.
 */
export const publicRandomView = (n: number): { readonly pool: Uint8Array; readonly at: number } => {
  if (offset + n > POOL_BYTES) {
    globalThis.crypto.getRandomValues(pool)
    offset = 0
  }
  view.at = offset
  offset += n
  return view
}
const view = { pool: pool as Uint8Array, at: 0 }
