import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Redacted } from "effect"
import { BoundedMap } from "../../core/util/BoundedMap.ts"
import { bodyKeyId, decryptBody, encryptBody } from "../../src/crypto/body.ts"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import { decodeMasterKey, decodeMasterKeyList, generateMasterKeyHex } from "../../src/crypto/masterKey.ts"
import { bytesToBase64 } from "../../core/util/base64.ts"

const ROOM_A = "0b4e3f4c-1d8c-4a3e-9a53-6a2b7c1f0001"
const ROOM_B = "0b4e3f4c-1d8c-4a3e-9a53-6a2b7c1f0002"

const newMasterKey = () => globalThis.crypto.getRandomValues(new Uint8Array(32))
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")

/** Every rendering of an error a log line might use. */
const renderings = (e: unknown): ReadonlyArray<string> => [
  String(e),
  (e as Error).message,
  JSON.stringify(e),
  Cause.pretty(Cause.fail(e))
]

const expectNoKeyMaterial = (e: unknown, keys: ReadonlyArray<Uint8Array>) => {
  for (const text of renderings(e)) {
    for (const k of keys) {
      expect(text.toLowerCase()).not.toContain(hex(k))
      expect(text).not.toContain(bytesToBase64(k))
      expect(text).not.toContain(bytesToBase64(k).slice(0, 20))
    }
  }
}

/** Flip one bit of a base64 field of a dotted string, keeping it valid base64. */
const flipField = (text: string, index: number): string => {
  const parts = text.split(".")
  const bytes = Uint8Array.from(atob(parts[index]), (c) => c.charCodeAt(0))
  bytes[bytes.length - 1] ^= 0x01
  parts[index] = bytesToBase64(bytes)
  return parts.join(".")
}

describe("crypto - master keys", () => {
  it.effect("derives a stable 64-bit hex id from the key, different per key", () =>
    Effect.gen(function* () {
      const k = newMasterKey()
      const a = yield* KeyRing.make({ current: k })
      const b = yield* KeyRing.make({ current: new Uint8Array(k) })
      const c = yield* KeyRing.make({ current: newMasterKey() })
      expect(a.currentMasterKeyId).toMatch(/^[0-9a-f]{16}$/)
      expect(b.currentMasterKeyId).toBe(a.currentMasterKeyId)
      expect(c.currentMasterKeyId).not.toBe(a.currentMasterKeyId)
      expect(hex(k)).not.toContain(a.currentMasterKeyId)
    }))

  it.effect("lists the current key first and holds a key listed twice once", () =>
    Effect.gen(function* () {
      const cur = newMasterKey()
      const old = newMasterKey()
      const ring = yield* KeyRing.make({ current: cur, old: [old, cur] })
      const oldId = (yield* KeyRing.make({ current: old })).currentMasterKeyId
      expect(ring.masterKeyIds).toEqual([ring.currentMasterKeyId, oldId])
      expect(ring.hasMasterKey(oldId)).toBe(true)
    }))

  it.effect("rejects a master key that is not 32 bytes", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(KeyRing.make({ current: new Uint8Array(16) }))
      expect(error._tag).toBe("InvalidMasterKey")
      expect(error.message).toContain("16 bytes")
    }))

  it("decodes hex and base64 / base64url master keys to the same 32 bytes", () => {
    const k = newMasterKey()
    const b64 = bytesToBase64(k)
    const b64url = b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
    for (const text of [hex(k), hex(k).toUpperCase(), b64, b64url, `  ${hex(k)}\n`]) {
      expect(Either.getOrThrow(decodeMasterKey(text))).toEqual(k)
    }
    const list = Either.getOrThrow(decodeMasterKeyList(`${hex(k)}, ${b64}`))
    expect(list).toEqual([k, k])
    expect(generateMasterKeyHex()).toMatch(/^[0-9a-f]{64}$/)
  })

  it("rejects malformed master key text without quoting it", () => {
    const secret = "deadbeef".repeat(7) // 56 hex characters: 28 bytes
    const result = decodeMasterKey(secret)
    expect(Either.isLeft(result)).toBe(true)
    const error = Either.flip(result).pipe(Either.getOrThrow)
    for (const text of renderings(error)) expect(text).not.toContain(secret)
    expect(Either.isLeft(decodeMasterKeyList(`${generateMasterKeyHex()},nope`))).toBe(true)
  })

  it.effect("builds a ring from redacted configuration text", () =>
    Effect.gen(function* () {
      const cur = generateMasterKeyHex()
      const old = generateMasterKeyHex()
      const ring = yield* KeyRing.makeFromText({
        current: Redacted.make(cur),
        old: Redacted.make(`${old},${generateMasterKeyHex()}`)
      })
      expect(ring.masterKeyIds).toHaveLength(3)
      const bad = yield* Effect.flip(KeyRing.makeFromText({ current: Redacted.make("short") }))
      expect(bad.message).toContain("current master key")
    }))
})

describe("crypto - message bodies", () => {
  it.effect("round trips a body through a self-describing v1 ciphertext", () =>
    Effect.gen(function* () {
      const ring = yield* KeyRing.make({ current: newMasterKey() })
      const { key, wrapped } = yield* ring.newDataKey(ROOM_A)
      const plaintext = "héllo, wörld 👋"
      const ct = yield* encryptBody(key, ROOM_A, plaintext)
      expect(ct).toMatch(/^v1\.[0-9a-f]{16}\.[A-Za-z0-9+/=]{16}\.[A-Za-z0-9+/=]+$/)
      expect(ct).not.toContain("wörld")
      expect(bodyKeyId(ct)).toEqual(expect.objectContaining({ value: wrapped.keyId }))
      expect(yield* decryptBody(key, ROOM_A, ct)).toBe(plaintext)
      // Random IVs: the same plaintext never gives the same ciphertext twice.
      expect(yield* encryptBody(key, ROOM_A, plaintext)).not.toBe(ct)
      expect(yield* decryptBody(key, ROOM_A, yield* encryptBody(key, ROOM_A, ""))).toBe("")
    }))

  it.effect("fails with DecryptFailed when the ciphertext, IV or key id is tampered with", () =>
    Effect.gen(function* () {
      const ring = yield* KeyRing.make({ current: newMasterKey() })
      const { key } = yield* ring.newDataKey(ROOM_A)
      const ct = yield* encryptBody(key, ROOM_A, "attack at dawn")
      for (const tampered of [flipField(ct, 3), flipField(ct, 2), ct.slice(0, -4), "v1.x.y.z", "hello"]) {
        const error = yield* Effect.flip(decryptBody(key, ROOM_A, tampered))
        expect(error._tag).toBe("DecryptFailed")
        expect(error.keyId).toBe(key.id)
      }
      const other = yield* ring.newDataKey(ROOM_A)
      const relabelled = ct.replace(key.id, other.key.id)
      const error = yield* Effect.flip(decryptBody(other.key, ROOM_A, relabelled))
      expect(error._tag).toBe("DecryptFailed")
    }))

  it.effect("fails when a body is moved to another room, even under the same data key", () =>
    Effect.gen(function* () {
      const ring = yield* KeyRing.make({ current: newMasterKey() })
      const { key } = yield* ring.newDataKey(ROOM_A)
      const ct = yield* encryptBody(key, ROOM_A, "for room A only")
      const error = yield* Effect.flip(decryptBody(key, ROOM_B, ct))
      expect(error._tag).toBe("DecryptFailed")
      expect(error.room).toBe(ROOM_B)
    }))
})

describe("crypto - wrapped data keys", () => {
  it.effect("unwraps a data key that decrypts what the original encrypted, and caches the import", () =>
    Effect.gen(function* () {
      const master = newMasterKey()
      const writer = yield* KeyRing.make({ current: master })
      const { key, wrapped } = yield* writer.newDataKey(ROOM_A)
      expect(wrapped).toMatchObject({ room: ROOM_A, keyId: key.id, masterKeyId: writer.currentMasterKeyId })
      const ct = yield* encryptBody(key, ROOM_A, "persisted")
      // A second process: same master key, empty cache.
      const reader = yield* KeyRing.make({ current: new Uint8Array(master) })
      const unwrapped = yield* reader.unwrap(wrapped)
      expect(unwrapped.id).toBe(key.id)
      expect(yield* decryptBody(unwrapped, ROOM_A, ct)).toBe("persisted")
      expect(yield* reader.unwrap(wrapped)).toBe(unwrapped)
    }))

  it.effect("fails with KeyUnavailable naming the master key id, without key bytes, when the master key is not in the ring", () =>
    Effect.gen(function* () {
      const right = newMasterKey()
      const wrong = newMasterKey()
      const writer = yield* KeyRing.make({ current: right })
      const { wrapped, key } = yield* writer.newDataKey(ROOM_A)
      const reader = yield* KeyRing.make({ current: wrong })
      const error = yield* Effect.flip(reader.unwrap(wrapped))
      expect(error._tag).toBe("KeyUnavailable")
      expect(error.keyId).toBe(writer.currentMasterKeyId)
      expect(error.message).toContain(writer.currentMasterKeyId)
      expect(error.message).toContain(ROOM_A)
      expectNoKeyMaterial(error, [right, wrong])
      expect(JSON.stringify(error)).not.toContain(wrapped.wrapped)
      // The data key is an opaque handle: serialising it shows the public id and nothing else.
      expect(JSON.parse(JSON.stringify(key))).toEqual({ id: key.id, key: {} })
    }))

  it.effect("fails with DecryptFailed naming the master key id when the wrapped key is tampered with or moved", () =>
    Effect.gen(function* () {
      const master = newMasterKey()
      const writer = yield* KeyRing.make({ current: master })
      const { wrapped } = yield* writer.newDataKey(ROOM_A)
      const reader = yield* KeyRing.make({ current: new Uint8Array(master) })
      const candidates = [
        { ...wrapped, wrapped: flipField(wrapped.wrapped, 2) },
        { ...wrapped, wrapped: flipField(wrapped.wrapped, 1) },
        { ...wrapped, wrapped: "garbage" },
        { ...wrapped, room: ROOM_B },
        { ...wrapped, keyId: "0123456789abcdef" }
      ]
      for (const candidate of candidates) {
        const error = yield* Effect.flip(reader.unwrap(candidate))
        expect(error._tag).toBe("DecryptFailed")
        expect(error.keyId).toBe(writer.currentMasterKeyId)
        expectNoKeyMaterial(error, [master])
      }
    }))

  it.effect("rewraps under the current master key so the old one is no longer needed", () =>
    Effect.gen(function* () {
      const oldMaster = newMasterKey()
      const newMaster = newMasterKey()
      const before = yield* KeyRing.make({ current: oldMaster })
      const { wrapped, key } = yield* before.newDataKey(ROOM_A)
      const ct = yield* encryptBody(key, ROOM_A, "written before rotation")

      const during = yield* KeyRing.make({ current: newMaster, old: [oldMaster] })
      const rewrapped = yield* during.rewrap({ ...wrapped, createdAt: "2024-01-01T00:00:00.000Z" })
      expect(rewrapped).toMatchObject({ room: ROOM_A, keyId: key.id, createdAt: "2024-01-01T00:00:00.000Z" })
      expect(rewrapped.masterKeyId).toBe(during.currentMasterKeyId)
      expect(rewrapped.wrapped).not.toBe(wrapped.wrapped)

      const after = yield* KeyRing.make({ current: newMaster })
      expect(Exit.isFailure(yield* Effect.exit(after.unwrap(wrapped)))).toBe(true)
      expect(yield* decryptBody(yield* after.unwrap(rewrapped), ROOM_A, ct)).toBe("written before rotation")
    }))
})

describe("crypto - bounded map", () => {
  it("evicts the least recently used entry beyond its capacity", () => {
    const m = new BoundedMap<string, number>(2)
    m.set("a", 1)
    m.set("b", 2)
    expect(m.get("a")).toBe(1)
    m.set("c", 3)
    expect(m.get("b")).toBeUndefined()
    expect(m.get("a")).toBe(1)
    expect(m.get("c")).toBe(3)
    expect(m.size).toBe(2)
  })

  it.effect("bounds the ring's cache of imported data keys", () =>
    Effect.gen(function* () {
      const master = newMasterKey()
      const writer = yield* KeyRing.make({ current: master })
      const reader = yield* KeyRing.make({ current: new Uint8Array(master), cacheCapacity: 1 })
      const a = (yield* writer.newDataKey(ROOM_A)).wrapped
      const b = (yield* writer.newDataKey(ROOM_B)).wrapped
      const first = yield* reader.unwrap(a)
      expect(yield* reader.unwrap(a)).toBe(first)
      yield* reader.unwrap(b)
      expect(yield* reader.unwrap(a)).not.toBe(first)
    }))
})
