/**
 * base64 / base64url over Uint8Array with web-standard APIs only (atob/btoa), so the same
 * code runs on Node and Deno without Buffer.
 */
export const bytesToBase64 = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

export const base64ToBytes = (b64: string): Uint8Array => {
  const s = atob(b64)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

export const toBase64Url = (b64: string) => b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
export const fromBase64Url = (s: string) => {
  const b = s.replace(/-/g, "+").replace(/_/g, "/")
  return b + "=".repeat((4 - (b.length % 4)) % 4)
}

export const utf8 = new TextEncoder()
export const utf8Decode = new TextDecoder("utf-8", { fatal: true })
