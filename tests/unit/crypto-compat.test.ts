/**
 * The stored format did not change when bodies moved from WebCrypto (`crypto.subtle`, async)
 * to node:crypto (src/platform/aesGcm.ts, synchronous): data written by one opens with the
 * other, both ways. `legacy` below is the WebCrypto implementation as it was written, kept
 * here as the reference for the v1 format:
 *
 * - key id: hex of the first 8 bytes of SHA-256(label || 0x00 || key);
 * - wrapped data key: `v1.<iv>.<AES-256-GCM(master, key) || tag>`, AAD
 *   `chat/room-key/v1.<room>.<dataKeyId>`;
 * - body: `v1.<dataKeyId>.<iv>.<AES-256-GCM(dataKey, utf8 text) || tag>`, AAD
 *   `v1.<dataKeyId>.<room>`; base64 throughout, 12-byte IVs, 16-byte tags.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decryptBody, encryptBody } from "../../src/crypto/body.ts"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import type { WrappedDataKey } from "../../src/crypto/KeyRing.ts"
import type { Role, RoomId, UserId } from "../../src/domain/model.ts"
import { base64ToBytes, bytesToBase64 } from "../../src/util/base64.ts"
import { withEncryption } from "../../storage/encrypted.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"

const ROOM_A = "0b4e3f4c-1d8c-4a3e-9a53-6a2b7c1f0001" as RoomId
const ROOM_B = "0b4e3f4c-1d8c-4a3e-9a53-6a2b7c1f0002" as RoomId
const ALICE = "alice" as UserId
const MEMBERS = new Map<UserId, Role>([[ALICE, "owner"]])
const EPOCH = 1

const PLAINTEXTS = ["héllo, wörld 👋", "", "x".repeat(100), "long ".repeat(13_000)]

const utf8 = new TextEncoder()
const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n))
const gcm = (iv: Uint8Array<ArrayBuffer>, aad: string) =>
  ({ name: "AES-GCM", iv, additionalData: utf8.encode(aad), tagLength: 128 }) as const
const importRaw = (raw: Uint8Array) =>
  globalThis.crypto.subtle.importKey("raw", new Uint8Array(raw), "AES-GCM", false, ["encrypt", "decrypt"])
const bytes = (b64: string) => new Uint8Array(base64ToBytes(b64))

/** The WebCrypto implementation of the v1 format, as it was before node:crypto. */
const legacy = {
  keyId: async (label: string, key: Uint8Array) => {
    const input = new Uint8Array([...utf8.encode(`${label}\u0000`), ...key])
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", input))
    return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("")
  },
  wrap: async (master: Uint8Array, room: string, dataKey: Uint8Array): Promise<WrappedDataKey> => {
    const keyId = await legacy.keyId("chat/data-key-id/v1", dataKey)
    const iv = random(12)
    const sealed = await globalThis.crypto.subtle.encrypt(
      gcm(iv, `chat/room-key/v1.${room}.${keyId}`),
      await importRaw(master),
      new Uint8Array(dataKey)
    )
    return {
      room,
      keyId,
      masterKeyId: await legacy.keyId("chat/master-key-id/v1", master),
      wrapped: `v1.${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(sealed))}`
    }
  },
  unwrap: async (master: Uint8Array, w: WrappedDataKey): Promise<Uint8Array> => {
    const [, iv, sealed] = w.wrapped.split(".")
    return new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        gcm(bytes(iv), `chat/room-key/v1.${w.room}.${w.keyId}`),
        await importRaw(master),
        bytes(sealed)
      )
    )
  },
  /** `plaintext` may be bytes, to store something that is not UTF-8. */
  encrypt: async (dataKey: Uint8Array, keyId: string, room: string, plaintext: string | Uint8Array) => {
    const iv = random(12)
    const data = typeof plaintext === "string" ? utf8.encode(plaintext) : new Uint8Array(plaintext)
    const sealed = await globalThis.crypto.subtle.encrypt(gcm(iv, `v1.${keyId}.${room}`), await importRaw(dataKey), data)
    return `v1.${keyId}.${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(sealed))}`
  },
  decrypt: async (dataKey: Uint8Array, room: string, text: string) => {
    const [, keyId, iv, sealed] = text.split(".")
    const plain = await globalThis.crypto.subtle.decrypt(gcm(bytes(iv), `v1.${keyId}.${room}`), await importRaw(dataKey), bytes(sealed))
    return new TextDecoder("utf-8", { fatal: true }).decode(plain)
  },
  /** The v2 format (bodies bound to their message): additional data `v2.<keyId>.<room>.<messageId>`. */
  decryptV2: async (dataKey: Uint8Array, room: string, messageId: string, text: string) => {
    const [version, keyId, iv, sealed] = text.split(".")
    if (version !== "v2") throw new Error(`not v2: ${version}`)
    const plain = await globalThis.crypto.subtle.decrypt(
      gcm(bytes(iv), `v2.${keyId}.${room}.${messageId}`),
      await importRaw(dataKey),
      bytes(sealed)
    )
    return new TextDecoder("utf-8", { fatal: true }).decode(plain)
  }
}

/**
 * Written by the WebCrypto implementation before the switch (tests run with a fixed master
 * key): what a database filled by an earlier release holds.
 */
const RECORDED = {
  master: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  wrapped: {
    room: ROOM_A,
    keyId: "50a937eff38ee8ce",
    masterKeyId: "da95f06046ccc8f6",
    wrapped: "v1.j49iXeoz8vtvOXUX.gAuUs+Fm1khxzR7bsYjJJG7opoOZWg6QTr+izOi3mIU3P0oQXte7NP/33et2gTZE"
  },
  bodies: [
    ["héllo, wörld 👋", "v1.50a937eff38ee8ce.aG/BXwEN2FOxLeOq.laRe5+Sr9ridZ58A2nnFID8bb6/Z9cpVHUfz+l6eRO4NVlQ="],
    ["", "v1.50a937eff38ee8ce.WICwzM428nDHBpPp.YCk8DY4MetEATbSk/IRggg=="],
    [
      "x".repeat(100),
      "v1.50a937eff38ee8ce.vAazVjEl7dXeePC/.dCJpTK7Pl1QidKPTK17oh2Zw+tLriLRQf0sN1Bb9hh6k+6ntbc01gHGwWadylj5aWOGhFQUoN46s+9eEu/r7qxGiMFWaD8yfmUUVs3CTGI+oGT54t+Y90NnjO8USAArMFiKEzebwaCfRFiKFCdtXgs7BBNY="
    ]
  ]
} as const

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16))

describe("crypto - compatibility with the WebCrypto format", () => {
  it.effect("opens room keys and bodies an earlier release stored", () =>
    Effect.gen(function* () {
      const ring = yield* KeyRing.make({ current: fromHex(RECORDED.master) })
      expect(ring.currentMasterKeyId).toBe(RECORDED.wrapped.masterKeyId)
      const key = yield* ring.unwrap(RECORDED.wrapped)
      expect(key.id).toBe(RECORDED.wrapped.keyId)
      for (const [plaintext, stored] of RECORDED.bodies) {
        expect(yield* decryptBody(key, ROOM_A, stored)).toBe(plaintext)
      }
    }))

  it.effect("opens what the WebCrypto implementation writes", () =>
    Effect.gen(function* () {
      const master = random(32)
      const dataKey = random(32)
      const wrapped = yield* Effect.promise(() => legacy.wrap(master, ROOM_A, dataKey))
      const ring = yield* KeyRing.make({ current: master })
      expect(ring.currentMasterKeyId).toBe(wrapped.masterKeyId)
      const key = yield* ring.unwrap(wrapped)
      expect(key.id).toBe(wrapped.keyId)
      for (const plaintext of PLAINTEXTS) {
        const stored = yield* Effect.promise(() => legacy.encrypt(dataKey, wrapped.keyId, ROOM_A, plaintext))
        expect(yield* decryptBody(key, ROOM_A, stored)).toBe(plaintext)
      }
    }))

  it.effect("writes what the WebCrypto implementation opens", () =>
    Effect.gen(function* () {
      const master = random(32)
      const ring = yield* KeyRing.make({ current: master })
      const { key, wrapped } = yield* ring.newDataKey(ROOM_A)
      const dataKey = yield* Effect.promise(() => legacy.unwrap(master, wrapped))
      expect(yield* Effect.promise(() => legacy.keyId("chat/data-key-id/v1", dataKey))).toBe(wrapped.keyId)
      expect(wrapped.masterKeyId).toBe(yield* Effect.promise(() => legacy.keyId("chat/master-key-id/v1", master)))
      for (const plaintext of PLAINTEXTS) {
        const stored = yield* encryptBody(key, ROOM_A, plaintext)
        expect(yield* Effect.promise(() => legacy.decrypt(dataKey, ROOM_A, stored))).toBe(plaintext)
      }
    }))

  it.effect("through the store decorator: old (v1) rows read back, new rows are v2 and open with WebCrypto given their message id", () =>
    Effect.gen(function* () {
      const master = random(32)
      const inner = makeMemoryStore()
      yield* inner.createGroupRoom({ id: ROOM_A, name: "compat", owner: ALICE, members: [] })
      // A room and its first message as an earlier release stored them.
      const dataKey = random(32)
      const wrapped = yield* Effect.promise(() => legacy.wrap(master, ROOM_A, dataKey))
      yield* inner.addRoomKey({ ...wrapped, room: ROOM_A, createdAt: "2024-01-01T00:00:00.000Z" })
      const old = yield* Effect.promise(() => legacy.encrypt(dataKey, wrapped.keyId, ROOM_A, "written by the old code"))
      yield* inner.commit(ROOM_A, EPOCH, MEMBERS, [
        { _tag: "Send", actor: ALICE, messageId: "00000000-0000-4000-8000-000000000001", clientMsgId: "c1", body: old }
      ])

      const store = withEncryption(inner, yield* KeyRing.make({ current: master }))
      yield* store.commit(ROOM_A, EPOCH, MEMBERS, [
        { _tag: "Send", actor: ALICE, messageId: "00000000-0000-4000-8000-000000000002", clientMsgId: "c2", body: "written by the new code" }
      ])
      const page = yield* store.history(ROOM_A, undefined, 10)
      expect(page.messages.map((m) => m.body)).toEqual(["written by the new code", "written by the old code"])
      const replayed = yield* store.events(ROOM_A, 0, 10, 10)
      expect(replayed.map((e) => (e.data as { body?: string }).body)).toEqual([
        "written by the old code",
        "written by the new code"
      ])

      // The new message went under the room's existing key, bound to its message id (v2):
      // the room-only (v1) additional data no longer opens it.
      expect(yield* inner.roomKeys(ROOM_A)).toHaveLength(1)
      const stored = (yield* inner.history(ROOM_A, undefined, 1)).messages[0].body
      expect(stored.split(".")[1]).toBe(wrapped.keyId)
      const messageId = "00000000-0000-4000-8000-000000000002"
      expect(yield* Effect.promise(() => legacy.decryptV2(dataKey, ROOM_A, messageId, stored))).toBe("written by the new code")
      expect(yield* Effect.promise(() => legacy.decrypt(dataKey, ROOM_A, stored).then(() => "opened", () => "refused"))).toBe("refused")
    }))

  it.effect("fails as before: DecryptFailed 'authentication failed' for tampered or moved bodies, 'TypeError' for non-UTF-8", () =>
    Effect.gen(function* () {
      const master = random(32)
      const dataKey = random(32)
      const wrapped = yield* Effect.promise(() => legacy.wrap(master, ROOM_A, dataKey))
      const key = yield* (yield* KeyRing.make({ current: master })).unwrap(wrapped)
      const stored = yield* Effect.promise(() => legacy.encrypt(dataKey, wrapped.keyId, ROOM_A, "attack at dawn"))
      const parts = stored.split(".")
      const sealed = bytes(parts[3])
      sealed[0] ^= 0x01
      const tamperedText = [...parts.slice(0, 3), bytesToBase64(sealed)].join(".")
      const tag = bytes(parts[3])
      tag[tag.length - 1] ^= 0x01
      const tamperedTag = [...parts.slice(0, 3), bytesToBase64(tag)].join(".")
      const cases: ReadonlyArray<readonly [string, RoomId]> = [
        [tamperedText, ROOM_A],
        [tamperedTag, ROOM_A],
        [stored, ROOM_B]
      ]
      for (const [text, room] of cases) {
        const error = yield* Effect.flip(decryptBody(key, room, text))
        expect(error).toMatchObject({ _tag: "DecryptFailed", kind: "data", keyId: key.id, room, reason: "authentication failed" })
      }
      const notUtf8 = yield* Effect.promise(() => legacy.encrypt(dataKey, wrapped.keyId, ROOM_A, new Uint8Array([0xff, 0xfe])))
      const error = yield* Effect.flip(decryptBody(key, ROOM_A, notUtf8))
      expect(error).toMatchObject({ _tag: "DecryptFailed", keyId: key.id, room: ROOM_A, reason: "TypeError" })
    }))
})
