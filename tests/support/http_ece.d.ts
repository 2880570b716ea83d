// http_ece (RFC 8188 / RFC 8291 content encoding) ships no types; the tests use decrypt only.
declare module "http_ece" {
  import type { ECDH } from "node:crypto"
  const ece: {
    decrypt: (buffer: Buffer, params: { version: "aes128gcm"; privateKey: ECDH; authSecret: string }) => Buffer
  }
  export default ece
}
