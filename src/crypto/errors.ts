/**
 * Errors of the encryption layer. They stay in-process (the store decorator turns them into
 * StoreError), so they are Data.TaggedError. Every field is an identifier or a short reason:
 * key material never goes into an error, so an error can be logged as-is.
 */
import { Data } from "effect"

/** Which kind of key an error is about: a master key (wraps room keys) or a room's data key. */
export type KeyKind = "master" | "data"

/** The key a ciphertext or wrapped key names is not available here (not in the ring, or not stored). */
export class KeyUnavailable extends Data.TaggedError("KeyUnavailable")<{
  readonly kind: KeyKind
  readonly keyId: string
  readonly room?: string
}> {
  override get message() {
    const where = this.room === undefined ? "" : ` (room ${this.room})`
    return this.kind === "master"
      ? `master key ${this.keyId} is not in the key ring${where}`
      : `data key ${this.keyId} not found${where}`
  }
}

/**
 * Authenticated decryption failed (wrong key, tampered or moved ciphertext) or the input is not
 * in a format this code writes. `keyId` is the key that was tried.
 */
export class DecryptFailed extends Data.TaggedError("DecryptFailed")<{
  readonly kind: KeyKind
  readonly keyId: string
  readonly room?: string
  readonly reason: string
}> {
  override get message() {
    const what = this.kind === "master" ? "room key wrapped by master key" : "message body under data key"
    const where = this.room === undefined ? "" : ` (room ${this.room})`
    return `cannot decrypt ${what} ${this.keyId}${where}: ${this.reason}`
  }
}

/** The cipher refused to encrypt: not expected with keys this module made, but typed rather than a defect. */
export class EncryptFailed extends Data.TaggedError("EncryptFailed")<{
  readonly kind: KeyKind
  readonly keyId: string
  readonly reason: string
}> {
  override get message() {
    return `cannot encrypt under ${this.kind} key ${this.keyId}: ${this.reason}`
  }
}

/** A configured master key is malformed. The reason never quotes the configured text. */
export class InvalidMasterKey extends Data.TaggedError("InvalidMasterKey")<{
  readonly reason: string
}> {
  override get message() {
    return `invalid master key: ${this.reason}`
  }
}

export type CryptoError = KeyUnavailable | DecryptFailed | EncryptFailed
