/**
 * The key ring: the current master key plus any old ones still needed to read room keys
 * wrapped before a rotation. Each room has a 32-byte data key; the store keeps it only wrapped
 * by a master key, together with that master key's id, so master keys can rotate without
 * touching a single message (see src/crypto/rotate.ts).
 *
 * Wrapping is AES-256-GCM with a random 12-byte IV, not AES-KW. Both are authenticated, but
 * GCM takes additional data: we bind each wrapped key to its room and data key id, so a wrapped
 * key copied onto another room's row (or relabelled) fails to unwrap. Random IVs are safe here
 * because a master key wraps one key per room plus rewraps, far below GCM's 2^32 limit.
 *
 * The ring holds master keys only as non-extractable CryptoKeys: the raw bytes are dropped
 * after import, so nothing reachable from the ring (or any error it raises) contains them.
 * Wrapping is rare (a room's first message, a rotation), so it stays on WebCrypto.
 *
 * Data keys are used for every body, so they are imported for the synchronous AES-GCM of
 * src/platform/aesGcm.ts instead: an opaque KeyObject, whose bytes live outside the JS heap
 * and show up in no log, inspection or serialisation. The raw bytes are wiped after import.
 */
import { Context, Effect, Either, Layer, Redacted } from "effect"
import { Secrets } from "../config/secrets.ts"
import { importAesGcmKey } from "../platform/aesGcm.ts"
import { base64ToBytes, bytesToBase64, utf8 } from "../../core/util/base64.ts"
import { BoundedMap } from "../../core/util/BoundedMap.ts"
import type { DataKey } from "./body.ts"
import { IV_BYTES } from "./body.ts"
import { DecryptFailed, EncryptFailed, InvalidMasterKey, KeyUnavailable } from "./errors.ts"
import { DATA_KEY_ID_LABEL, describe, keyId, MASTER_KEY_ID_LABEL, own, randomBytes, wipe } from "./internal/bytes.ts"
import { decodeMasterKey, decodeMasterKeyList, KEY_BYTES } from "./masterKey.ts"

/** A data key as stored: the shape of storage's WrappedRoomKey without its timestamp. */
export interface WrappedDataKey {
  readonly room: string
  readonly keyId: string
  readonly masterKeyId: string
  /** `v1.<iv base64>.<wrapped key + tag base64>` */
  readonly wrapped: string
}

export interface KeyRing {
  /** The id new room keys are wrapped under. */
  readonly currentMasterKeyId: string
  /** Every master key id in the ring, current first. */
  readonly masterKeyIds: ReadonlyArray<string>
  readonly hasMasterKey: (masterKeyId: string) => boolean
  /** A fresh random data key for `room`, wrapped under the current master key. */
  readonly newDataKey: (
    room: string
  ) => Effect.Effect<{ readonly wrapped: WrappedDataKey; readonly key: DataKey }, EncryptFailed>
  /** The data key inside `wrapped`, from the cache when this room's key was unwrapped before. */
  readonly unwrap: (wrapped: WrappedDataKey) => Effect.Effect<DataKey, KeyUnavailable | DecryptFailed>
  /** The same data key (same id) wrapped under the current master key; other fields kept. */
  readonly rewrap: <W extends WrappedDataKey>(
    wrapped: W
  ) => Effect.Effect<W, KeyUnavailable | DecryptFailed | EncryptFailed>
}

export class KeyRingTag extends Context.Tag("chat/KeyRing")<KeyRingTag, KeyRing>() {}

export interface KeyRingOptions {
  readonly current: Uint8Array
  readonly old?: ReadonlyArray<Uint8Array> | undefined
  /** Unwrapped data keys kept imported, one per room; least recently used evicted first. */
  readonly cacheCapacity?: number | undefined
}

export const DEFAULT_CACHE_CAPACITY = 4096

const VERSION = "v1"
const TAG_BITS = 128
const WRAPPED_RE = /^v1\.([A-Za-z0-9+/]+={0,2})\.([A-Za-z0-9+/]+={0,2})$/

const wrapAad = (room: string, dataKeyId: string) => utf8.encode(`chat/room-key/${VERSION}.${room}.${dataKeyId}`)

const importMasterKey = (raw: Uint8Array) =>
  globalThis.crypto.subtle.importKey("raw", own(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"])

export const make = (options: KeyRingOptions): Effect.Effect<KeyRing, InvalidMasterKey> =>
  Effect.gen(function* () {
    const all = [options.current, ...(options.old ?? [])]
    for (const [i, k] of all.entries()) {
      if (k.length !== KEY_BYTES) {
        const which = i === 0 ? "current master key" : `old master key ${i}`
        return yield* new InvalidMasterKey({ reason: `${which} has ${k.length} bytes, expected ${KEY_BYTES}` })
      }
    }
    const masters = new Map<string, CryptoKey>()
    for (const raw of all) {
      const id = yield* Effect.promise(() => keyId(MASTER_KEY_ID_LABEL, raw))
      // The current key may also be listed among the old ones during a rotation; one entry is enough.
      if (masters.has(id)) continue
      const key = yield* Effect.tryPromise({
        try: () => importMasterKey(raw),
        catch: (e) => new InvalidMasterKey({ reason: `WebCrypto rejected master key ${id}: ${describe(e)}` })
      })
      masters.set(id, key)
    }
    const ids = [...masters.keys()]
    return makeRing(ids[0], masters, options.cacheCapacity ?? DEFAULT_CACHE_CAPACITY)
  })

/** From configuration text: the current key and an optional comma-separated list of old keys. */
export const makeFromText = (options: {
  readonly current: Redacted.Redacted<string>
  readonly old?: Redacted.Redacted<string> | undefined
  readonly cacheCapacity?: number | undefined
}): Effect.Effect<KeyRing, InvalidMasterKey> =>
  Effect.gen(function* () {
    const current = yield* Either.mapLeft(
      decodeMasterKey(Redacted.value(options.current)),
      (e) => new InvalidMasterKey({ reason: `current master key: ${e.reason}` })
    )
    const old =
      options.old === undefined
        ? []
        : yield* Either.mapLeft(
            decodeMasterKeyList(Redacted.value(options.old)),
            (e) => new InvalidMasterKey({ reason: `old master keys: ${e.reason}` })
          )
    // These decoded copies are ours alone: wipe them once imported.
    return yield* make({ current, old, cacheCapacity: options.cacheCapacity }).pipe(
      Effect.ensuring(Effect.sync(() => [current, ...old].forEach(wipe)))
    )
  })

export const layer = (options: KeyRingOptions): Layer.Layer<KeyRingTag, InvalidMasterKey> =>
  Layer.effect(KeyRingTag, make(options))

/** The node's ring: the resolved master key (CHAT_MASTER_KEY or the data dir's) and the old ones. */
export const layerFromSecrets: Layer.Layer<KeyRingTag, InvalidMasterKey, Secrets> = Layer.effect(
  KeyRingTag,
  Effect.flatMap(Secrets, (secrets) =>
    make({ current: Redacted.value(secrets.masterKey), old: secrets.oldMasterKeys.map(Redacted.value) })
  )
)

const makeRing = (currentId: string, masters: ReadonlyMap<string, CryptoKey>, capacity: number): KeyRing => {
  // Keyed by room and data key id, not by the wrapped text: a rewrap changes the text but not
  // the key, so cached keys stay valid across a master key rotation.
  const cache = new BoundedMap<string, DataKey>(capacity)
  const cacheKey = (room: string, dataKeyId: string) => `${room}/${dataKeyId}`
  const current = masters.get(currentId)!

  const wrapRaw = (room: string, dataKeyId: string, raw: Uint8Array) =>
    Effect.tryPromise({
      try: async () => {
        const iv = randomBytes(IV_BYTES)
        const sealed = await globalThis.crypto.subtle.encrypt(
          { name: "AES-GCM", iv, additionalData: wrapAad(room, dataKeyId), tagLength: TAG_BITS },
          current,
          own(raw)
        )
        return `${VERSION}.${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(sealed))}`
      },
      catch: (e) => new EncryptFailed({ kind: "master", keyId: currentId, reason: describe(e) })
    })

  /** The raw data key; the caller wipes it. */
  const unwrapRaw = (w: WrappedDataKey): Effect.Effect<Uint8Array, KeyUnavailable | DecryptFailed> => {
    const master = masters.get(w.masterKeyId)
    if (master === undefined) {
      return Effect.fail(new KeyUnavailable({ kind: "master", keyId: w.masterKeyId, room: w.room }))
    }
    const failed = (reason: string) =>
      new DecryptFailed({ kind: "master", keyId: w.masterKeyId, room: w.room, reason })
    const m = WRAPPED_RE.exec(w.wrapped)
    if (m === null) return Effect.fail(failed("wrapped key is not in v1 format"))
    return Effect.tryPromise({
      try: async () => {
        const iv = own(base64ToBytes(m[1]))
        if (iv.length !== IV_BYTES) throw new Error("bad iv")
        return new Uint8Array(
          await globalThis.crypto.subtle.decrypt(
            { name: "AES-GCM", iv, additionalData: wrapAad(w.room, w.keyId), tagLength: TAG_BITS },
            master,
            own(base64ToBytes(m[2]))
          )
        )
      },
      catch: (e) => failed(describe(e))
    }).pipe(
      Effect.flatMap((raw) =>
        Effect.promise(() => keyId(DATA_KEY_ID_LABEL, raw)).pipe(
          Effect.flatMap((id) => {
            // GCM already authenticated (room, keyId); this catches a row whose key id was
            // computed by a different rule, which would otherwise fail later on every body.
            if (raw.length === KEY_BYTES && id === w.keyId) return Effect.succeed(raw)
            wipe(raw)
            return Effect.fail(failed("unwrapped key does not match its key id"))
          })
        )
      )
    )
  }

  /** Imports `raw` (a copy is taken) and wipes it. */
  const importData = (room: string, id: string, raw: Uint8Array) =>
    Effect.sync((): DataKey => {
      try {
        const dk = { id, key: importAesGcmKey(raw) }
        cache.set(cacheKey(room, id), dk)
        return dk
      } finally {
        wipe(raw)
      }
    })

  return {
    currentMasterKeyId: currentId,
    masterKeyIds: [...masters.keys()],
    hasMasterKey: (id) => masters.has(id),

    newDataKey: (room) =>
      Effect.gen(function* () {
        const raw = randomBytes(KEY_BYTES)
        const id = yield* Effect.promise(() => keyId(DATA_KEY_ID_LABEL, raw))
        const wrapped = yield* wrapRaw(room, id, raw).pipe(Effect.tapError(() => Effect.sync(() => wipe(raw))))
        const key = yield* importData(room, id, raw)
        return { wrapped: { room, keyId: id, masterKeyId: currentId, wrapped }, key }
      }),

    unwrap: (w) =>
      Effect.suspend(() => {
        const hit = cache.get(cacheKey(w.room, w.keyId))
        if (hit !== undefined) return Effect.succeed(hit)
        return unwrapRaw(w).pipe(Effect.flatMap((raw) => importData(w.room, w.keyId, raw)))
      }),

    rewrap: (w) =>
      unwrapRaw(w).pipe(
        Effect.flatMap((raw) =>
          wrapRaw(w.room, w.keyId, raw).pipe(Effect.ensuring(Effect.sync(() => wipe(raw))))
        ),
        Effect.map((wrapped) => ({ ...w, masterKeyId: currentId, wrapped }))
      )
  }
}

export type { DataKey }
