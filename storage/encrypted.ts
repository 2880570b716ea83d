/**
 * Encryption at rest as a decorator over the store contract: message bodies are encrypted
 * before they reach the store and decrypted on the way back, so callers above see plaintext
 * and the database holds only `v1.<dataKeyId>.<iv>.<ciphertext>` strings (src/crypto/body.ts).
 *
 * Each room has one data key, created on the room's first message and stored wrapped by the
 * current master key (src/crypto/KeyRing.ts). Two nodes or fibers may create it at once: the
 * store keeps the first insert and answers the keys after, and everybody uses what it answers,
 * so a room never ends up with messages under two competing keys.
 *
 * Failures never turn into wrong text: an undecryptable body fails the call with
 * StoreError("decrypt") (an encryption-side failure with StoreError("encrypt")), which the
 * layers above report as internal/unavailable.
 */
import { Clock, Effect, Layer, Option } from "effect"
import { BoundedMap } from "../src/crypto/BoundedMap.ts"
import { bodyKeyId, decryptBody, encryptBody } from "../src/crypto/body.ts"
import type { DataKey } from "../src/crypto/body.ts"
import { DecryptFailed, KeyUnavailable } from "../src/crypto/errors.ts"
import type { CryptoError } from "../src/crypto/errors.ts"
import { KeyRingTag } from "../src/crypto/KeyRing.ts"
import type { KeyRing } from "../src/crypto/KeyRing.ts"
import { StoreError } from "../src/domain/errors.ts"
import type { ChatEvent, Message, RoomId, RoomSummary } from "../src/domain/model.ts"
import { ChatStoreTag } from "./ChatStore.ts"
import type { ChatStore, WrappedRoomKey } from "./ChatStore.ts"
import type { OpResult, WriteOp } from "./ops.ts"

export interface EncryptionOptions {
  /** Rooms whose key rows are kept in memory (saves a roomKeys query per call); LRU beyond that. */
  readonly roomCacheCapacity?: number | undefined
}

const DEFAULT_ROOM_CACHE_CAPACITY = 4096
/** Decrypts of one page run this many at a time: WebCrypto is async, but a page should not flood it. */
const DECRYPT_CONCURRENCY = 8

/**
 * The key new bodies go under when a room has several (the contract allows only one per room
 * today): the newest, ties broken by id, so every node picks the same one.
 */
const sealingKeyOf = (keys: ReadonlyArray<WrappedRoomKey>): WrappedRoomKey =>
  keys.reduce((a, b) =>
    b.createdAt > a.createdAt || (b.createdAt === a.createdAt && b.keyId > a.keyId) ? b : a
  )

const isMessageEvent = (e: ChatEvent): e is ChatEvent & { readonly data: Message } =>
  (e.kind === "message.created" || e.kind === "message.edited" || e.kind === "message.deleted") &&
  typeof e.data === "object" &&
  e.data !== null &&
  typeof (e.data as { body?: unknown }).body === "string"

const asStoreError =
  (operation: "encrypt" | "decrypt") =>
  (e: StoreError | CryptoError): StoreError =>
    e._tag === "StoreError" ? e : new StoreError({ operation, cause: e })

export const withEncryption = (store: ChatStore, ring: KeyRing, options?: EncryptionOptions): ChatStore => {
  const roomKeyRows = new BoundedMap<string, ReadonlyArray<WrappedRoomKey>>(
    options?.roomCacheCapacity ?? DEFAULT_ROOM_CACHE_CAPACITY
  )

  const fetchKeys = (room: RoomId) =>
    store.roomKeys(room).pipe(
      Effect.tap((keys) => {
        // An empty answer is not cached: the room's first message will create its key.
        if (keys.length > 0) roomKeyRows.set(room, keys)
      })
    )

  const sealingKey = (room: RoomId): Effect.Effect<DataKey, StoreError | CryptoError> =>
    Effect.gen(function* () {
      let keys = roomKeyRows.get(room) ?? (yield* fetchKeys(room))
      if (keys.length === 0) {
        const fresh = yield* ring.newDataKey(room)
        const now = yield* Clock.currentTimeMillis
        keys = yield* store.addRoomKey({ ...fresh.wrapped, room, createdAt: new Date(now).toISOString() })
        if (keys.length === 0) {
          return yield* new StoreError({ operation: "addRoomKey", cause: "no room key after insert" })
        }
        roomKeyRows.set(room, keys)
      }
      // When our insert lost the race this unwraps the winner's key; when it won, the ring's
      // cache already holds the key newDataKey imported.
      return yield* ring.unwrap(sealingKeyOf(keys))
    })

  const openingKey = (room: RoomId, keyId: string): Effect.Effect<DataKey, StoreError | CryptoError> =>
    Effect.gen(function* () {
      let row = roomKeyRows.get(room)?.find((k) => k.keyId === keyId)
      // A miss on a cached room may be a key added elsewhere since: ask the store once.
      if (row === undefined) row = (yield* fetchKeys(room)).find((k) => k.keyId === keyId)
      if (row === undefined) return yield* new KeyUnavailable({ kind: "data", keyId, room })
      return yield* ring.unwrap(row)
    })

  const decryptText = (room: RoomId, text: string): Effect.Effect<string, StoreError> => {
    // Deleted messages keep an empty body; there is nothing to decrypt.
    if (text === "") return Effect.succeed(text)
    const keyId = bodyKeyId(text)
    if (Option.isNone(keyId)) {
      return Effect.fail(
        asStoreError("decrypt")(
          new DecryptFailed({ kind: "data", keyId: "(none)", room, reason: "stored body is not a v1 ciphertext" })
        )
      )
    }
    return openingKey(room, keyId.value).pipe(
      Effect.flatMap((key) => decryptBody(key, room, text)),
      Effect.mapError(asStoreError("decrypt"))
    )
  }

  const decryptMessage = (m: Message): Effect.Effect<Message, StoreError> =>
    m.body === "" ? Effect.succeed(m) : Effect.map(decryptText(m.room, m.body), (body) => ({ ...m, body }))

  /** `sealed` maps ciphertexts this call just wrote to their plaintext, to skip decrypting them. */
  const decryptEvent = (e: ChatEvent, sealed?: ReadonlyMap<string, string>): Effect.Effect<ChatEvent, StoreError> => {
    if (!isMessageEvent(e) || e.data.body === "") return Effect.succeed(e)
    const known = sealed?.get(e.data.body)
    if (known !== undefined) return Effect.succeed({ ...e, data: { ...e.data, body: known } })
    return Effect.map(decryptText(e.room, e.data.body), (body) => ({ ...e, data: { ...e.data, body } }))
  }

  const decryptSummary = (s: RoomSummary): Effect.Effect<RoomSummary, StoreError> =>
    s.lastMessage === undefined || s.lastMessage.body === ""
      ? Effect.succeed(s)
      : Effect.map(decryptText(s.id, s.lastMessage.body), (body) => ({
          ...s,
          lastMessage: { ...s.lastMessage!, body }
        }))

  /**
   * Resolve a room's key rows once before decrypting a page of it concurrently, so a cold cache
   * costs one roomKeys query, not one per body. Only when something needs decrypting: a room
   * without messages has no key, and asking on every read would cost a query each time.
   */
  const warm = (room: RoomId, bodies: ReadonlyArray<string>) =>
    roomKeyRows.get(room) === undefined && bodies.some((b) => b !== "") ? Effect.asVoid(fetchKeys(room)) : Effect.void

  const commit: ChatStore["commit"] = (room, epoch, members, ops, shard) =>
    Effect.gen(function* () {
      const sealed = new Map<string, string>()
      let stored: ReadonlyArray<WriteOp> = ops
      if (ops.some((op) => op._tag === "Send" || op._tag === "Edit")) {
        const key = yield* sealingKey(room).pipe(Effect.mapError(asStoreError("encrypt")))
        stored = yield* Effect.forEach(ops, (op) =>
          op._tag === "Send" || op._tag === "Edit"
            ? Effect.map(encryptBody(key, room, op.body), (body): WriteOp => {
                sealed.set(body, op.body)
                return { ...op, body }
              })
            : Effect.succeed(op)
        ).pipe(Effect.mapError(asStoreError("encrypt")))
      }
      const results = yield* store.commit(room, epoch, members, stored, shard)
      return yield* Effect.forEach(
        results,
        (r): Effect.Effect<OpResult, StoreError> =>
          r._tag === "Committed" && r.events.length > 0
            ? Effect.map(Effect.forEach(r.events, (e) => decryptEvent(e, sealed)), (events) => ({ ...r, events }))
            : Effect.succeed(r)
      )
    })

  // Every member is listed rather than spread from `store`: a spread would drop (or unbind) methods
  // of a class-based store, and a new contract member should make this file fail to compile until
  // someone decides whether it carries bodies.
  return {
    name: store.name,
    ping: store.ping,
    createGroupRoom: (input) => store.createGroupRoom(input),
    findOrCreateDirectRoom: (a, b, newId) => store.findOrCreateDirectRoom(a, b, newId),
    loadRoom: (room) => store.loadRoom(room),
    getMembership: (room, user) => store.getMembership(room, user),
    markRead: (room, user, seq) => store.markRead(room, user, seq),
    setPinned: (room, user, pinned) => store.setPinned(room, user, pinned),
    registerDevice: (user, token, platform) => store.registerDevice(user, token, platform),
    unregisterDevice: (user, token) => store.unregisterDevice(user, token),
    listDevices: (user) => store.listDevices(user),
    roomKeys: (room) => store.roomKeys(room),
    addRoomKey: (key) => store.addRoomKey(key),
    allRoomKeys: store.allRoomKeys,
    rewrapRoomKey: (key) => store.rewrapRoomKey(key),
    fenceShard: (shard, epoch) => store.fenceShard(shard, epoch),
    commit,
    events: (room, after, upTo, limit) =>
      store.events(room, after, upTo, limit).pipe(
        Effect.tap((events) => warm(room, events.flatMap((e) => (isMessageEvent(e) ? [e.data.body] : [])))),
        Effect.flatMap((events) =>
          Effect.forEach(events, (e) => decryptEvent(e), { concurrency: DECRYPT_CONCURRENCY })
        )
      ),
    history: (room, before, limit) =>
      store.history(room, before, limit).pipe(
        Effect.tap((page) => warm(room, page.messages.map((m) => m.body))),
        Effect.flatMap((page) =>
          Effect.map(
            Effect.forEach(page.messages, decryptMessage, { concurrency: DECRYPT_CONCURRENCY }),
            (messages) => ({ ...page, messages })
          )
        )
      ),
    listRooms: (user, cursor, limit) =>
      store.listRooms(user, cursor, limit).pipe(
        Effect.flatMap((page) =>
          Effect.map(
            Effect.forEach(page.rooms, decryptSummary, { concurrency: DECRYPT_CONCURRENCY }),
            (rooms) => ({ ...page, rooms })
          )
        )
      )
  }
}

/** Wraps whatever ChatStoreTag is provided below it: `layer.pipe(Layer.provide(pgliteLayer))`. */
export const layer: Layer.Layer<ChatStoreTag, never, ChatStoreTag | KeyRingTag> = Layer.effect(
  ChatStoreTag,
  Effect.gen(function* () {
    const store = yield* ChatStoreTag
    const ring = yield* KeyRingTag
    return withEncryption(store, ring)
  })
)
