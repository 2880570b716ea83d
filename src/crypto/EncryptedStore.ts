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
 *
 * Sealing and opening a body are synchronous (a few microseconds each): a batch or a page
 * resolves the data keys it needs once, as effects, then runs its bodies in a plain loop.
 */
import { Cause, Clock, Effect, Either, Exit, Layer, Option, type Types } from "effect"
import { BoundedMap } from "../../core/util/BoundedMap.ts"
import { bodyKeyId, bodyOpener, sealBody } from "./body.ts"
import type { DataKey } from "./body.ts"
import { DecryptFailed, KeyUnavailable } from "./errors.ts"
import type { CryptoError } from "./errors.ts"
import { KeyRingTag } from "./KeyRing.ts"
import type { KeyRing } from "./KeyRing.ts"
import { StoreError } from "../../core/errors.ts"
import type { ChatEvent, Message, RoomId, RoomSummary } from "../../core/model.ts"
import { answerCommitExit as answerExit, ChatStoreTag } from "../../storage/ChatStore.ts"
import type { ChatStore, CommitDone, HistoryDone, HistoryPage, WrappedRoomKey } from "../../storage/ChatStore.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"

export interface EncryptionOptions {
  /** Rooms whose key rows are kept in memory (saves a roomKeys query per call); LRU beyond that. */
  readonly roomCacheCapacity?: number | undefined
}

const DEFAULT_ROOM_CACHE_CAPACITY = 4096
/**
 * listRooms opens one body per room, and each room whose key rows are not cached costs a
 * roomKeys query: that many rooms are resolved at a time, the rest of the work is in memory.
 */
const ROOM_KEY_CONCURRENCY = 8

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

  const notCiphertext = (room: RoomId) =>
    new DecryptFailed({ kind: "data", keyId: "(none)", room, reason: "stored body is not a v1 ciphertext" })

  type Opener = ReturnType<typeof bodyOpener>
  /** Openers of the data keys opened so far, by room and key id (a key's id names its bytes). */
  const openers = new BoundedMap<string, Opener>(options?.roomCacheCapacity ?? DEFAULT_ROOM_CACHE_CAPACITY)

  /**
   * The plaintexts of `bodies`, all of `room`, in order. Each data key they name is resolved
   * once (a page is nearly always under one key, so a cold cache costs one roomKeys query),
   * then every body is opened synchronously. Deleted messages keep an empty body: it stays "".
   */
  const openAll = (
    room: RoomId,
    bodies: ReadonlyArray<string>,
    /** The id of the message each body was read with (a v2 body is bound to it). */
    messageIds: ReadonlyArray<string | undefined>
  ): Effect.Effect<ReadonlyArray<string>, StoreError> =>
    Effect.suspend((): Effect.Effect<ReadonlyArray<string>, StoreError | CryptoError> => {
      const named = new Array<string>(bodies.length)
      for (let i = 0; i < bodies.length; i++) {
        if (bodies[i] === "") continue
        const id = bodyKeyId(bodies[i])
        if (Option.isNone(id)) return Effect.fail(notCiphertext(room))
        named[i] = id.value
      }
      const ids = new Set(named.filter((id) => id !== undefined))
      if (ids.size === 0) return Effect.succeed(bodies)
      const openAllWith = (byKeyId: ReadonlyMap<string, Opener>): Effect.Effect<ReadonlyArray<string>, DecryptFailed> => {
        const out = new Array<string>(bodies.length)
        for (let i = 0; i < bodies.length; i++) {
          if (bodies[i] === "") {
            out[i] = ""
            continue
          }
          const opened = byKeyId.get(named[i])!(bodies[i], messageIds[i])
          if (Either.isLeft(opened)) return Effect.fail(opened.left)
          out[i] = opened.right
        }
        return Effect.succeed(out)
      }
      // The warm path: every key this page names was opened here before (a data key never
      // changes under its id), so the page opens without an Effect per key.
      const known = new Map<string, Opener>()
      for (const id of ids) {
        const opener = openers.get(`${room}\u0000${id}`)
        if (opener === undefined) break
        known.set(id, opener)
      }
      if (known.size === ids.size) return openAllWith(known)
      return Effect.flatMap(
        Effect.forEach(ids, (id) =>
          Effect.map(openingKey(room, id), (key) => {
            const opener = bodyOpener(key, room)
            openers.set(`${room}\u0000${id}`, opener)
            return [id, opener] as const
          })
        ),
        (pairs) => openAllWith(new Map(pairs))
      )
    }).pipe(Effect.mapError(asStoreError("decrypt")))

  /** `sealed` maps ciphertexts this call just wrote to their plaintext, to skip decrypting them. */
  const openEvents = (
    room: RoomId,
    events: ReadonlyArray<ChatEvent>,
    sealed?: ReadonlyMap<string, string>
  ): Effect.Effect<ReadonlyArray<ChatEvent>, StoreError> => {
    const pending: Array<number> = []
    for (let i = 0; i < events.length; i++) {
      const e = events[i]
      if (isMessageEvent(e) && e.data.body !== "" && !sealed?.has(e.data.body)) pending.push(i)
    }
    const withBody = (e: ChatEvent, body: string): ChatEvent => ({ ...e, data: { ...(e.data as Message), body } })
    const known = (e: ChatEvent): ChatEvent => {
      if (!isMessageEvent(e) || e.data.body === "") return e
      const plain = sealed?.get(e.data.body)
      return plain === undefined ? e : withBody(e, plain)
    }
    if (pending.length === 0) return Effect.succeed(sealed === undefined ? events : events.map(known))
    return Effect.map(
      openAll(
        room,
        pending.map((i) => (events[i].data as Message).body),
        pending.map((i) => (events[i].data as Message).id)
      ),
      (plain) => {
        const out = events.map(known)
        pending.forEach((at, j) => (out[at] = withBody(events[at], plain[j])))
        return out
      }
    )
  }

  /** The summary's last message opened; its id (needed for that only) is not passed on. */
  const openSummary = (s: RoomSummary): Effect.Effect<RoomSummary, StoreError> => {
    if (s.lastMessage === undefined) return Effect.succeed(s)
    const { id, ...last } = s.lastMessage
    if (last.body === "") return Effect.succeed({ ...s, lastMessage: last })
    return Effect.map(openAll(s.id, [last.body], [id]), ([body]) => ({ ...s, lastMessage: { ...last, body } }))
  }

  /**
   * The message ids of the edits' targets, to bind each new body to its message. A target not
   * stored yet (sent in this same batch) has none here: that body is sealed v1 (room only).
   */
  const editTargets = (room: RoomId, ops: ReadonlyArray<WriteOp>): Effect.Effect<ReadonlyMap<number, string>, StoreError> => {
    const seqs = [...new Set(ops.flatMap((op) => (op._tag === "Edit" ? [op.seq] : [])))]
    if (seqs.length === 0) return Effect.succeed(new Map())
    return Effect.map(
      Effect.forEach(seqs, (seq) => store.history(room, seq + 1, 1), { concurrency: 4 }),
      (pages) => new Map(pages.flatMap((p, i) => (p.messages[0]?.seq === seqs[i] ? [[seqs[i]!, p.messages[0]!.id] as const] : [])))
    )
  }

  /**
   * The data key new bodies of `room` go under, when it is known without I/O: the room's key
   * rows are cached and their sealing key was unwrapped here before (the same key id, so a
   * key added or rewrapped since is never missed: the id would differ or the bytes are the same).
   */
  const sealingKeys = new BoundedMap<string, DataKey>(options?.roomCacheCapacity ?? DEFAULT_ROOM_CACHE_CAPACITY)
  const knownSealingKey = (room: RoomId): DataKey | undefined => {
    const rows = roomKeyRows.get(room)
    if (rows === undefined || rows.length === 0) return undefined
    const key = sealingKeys.get(room)
    return key !== undefined && key.id === sealingKeyOf(rows).keyId ? key : undefined
  }
  const resolveSealingKey = (room: RoomId): Effect.Effect<DataKey, StoreError> => {
    const known = knownSealingKey(room)
    if (known !== undefined) return Effect.succeed(known)
    return sealingKey(room).pipe(
      Effect.tap((key) => Effect.sync(() => sealingKeys.set(room, key))),
      Effect.mapError(asStoreError("encrypt"))
    )
  }

  /**
   * The batch's results with the plaintext of this batch's own sends and edits put back (no
   * decryption); `pending` lists the results with other bodies, which need the room's keys.
   */
  const openKnown = (
    results: ReadonlyArray<OpResult>,
    sealed: ReadonlyMap<string, string>
  ): { readonly out: Array<OpResult>; readonly pending: Array<number> | undefined } => {
    const out: Array<OpResult> = new Array(results.length)
    let pending: Array<number> | undefined
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!
      if (r._tag !== "Committed" || r.events.length === 0) {
        out[i] = r
        continue
      }
      let events: Array<ChatEvent> | undefined = []
      for (const e of r.events) {
        if (!isMessageEvent(e) || e.data.body === "") {
          events.push(e)
          continue
        }
        const plain = sealed.get(e.data.body)
        if (plain === undefined) {
          events = undefined
          break
        }
        events.push({ ...e, data: { ...e.data, body: plain } })
      }
      if (events !== undefined) out[i] = { ...r, events }
      else (pending ??= []).push(i)
    }
    return { out, pending }
  }

  /** The batch's results with plaintext events: sends and edits of this batch need no decryption. */
  const openResults = (
    room: RoomId,
    results: ReadonlyArray<OpResult>,
    sealed: ReadonlyMap<string, string>
  ): Effect.Effect<ReadonlyArray<OpResult>, StoreError> => {
    const { out, pending } = openKnown(results, sealed)
    if (pending === undefined) return Effect.succeed(out)
    return Effect.map(
      Effect.forEach(pending, (i) => {
        const r = results[i] as Extract<OpResult, { _tag: "Committed" }>
        return Effect.map(openEvents(room, r.events, sealed), (events) => ({ ...r, events }))
      }),
      (opened) => {
        pending!.forEach((i, j) => (out[i] = opened[j]!))
        return out
      }
    )
  }

  /** The ops with their bodies sealed, index for index; `sealed` (when given) maps each ciphertext to its plaintext. */
  const sealOps = (
    room: RoomId,
    key: DataKey,
    ops: ReadonlyArray<WriteOp>,
    targets: ReadonlyMap<number, string>,
    sealed: Map<string, string> | undefined
  ): Either.Either<ReadonlyArray<WriteOp>, StoreError> => {
    const out: Array<WriteOp> = new Array(ops.length)
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      if (op._tag !== "Send" && op._tag !== "Edit") {
        out[i] = op
        continue
      }
      const body = sealBody(key, room, op.body, op._tag === "Send" ? op.messageId : targets.get(op.seq))
      if (Either.isLeft(body)) return Either.left(asStoreError("encrypt")(body.left))
      sealed?.set(body.right, op.body)
      out[i] = { ...op, body: body.right }
    }
    return Either.right(out)
  }

  /**
   * The plain commit's results opened where they lie: results are in op order, so the body
   * of a message event of result `i` that is the very ciphertext sealed for op `i` is op
   * `i`'s plaintext. The store's results are the caller's (ChatStore.commitNow), so the
   * bodies are put back in place: no copy of each event, message and result per send, and
   * no map from ciphertexts to plaintexts. Answers false, having changed nothing, when any
   * body is not one this batch sealed (the caller then opens them through the keys).
   */
  const openInPlace = (results: ReadonlyArray<OpResult>, ops: ReadonlyArray<WriteOp>, stored: ReadonlyArray<WriteOp>): boolean => {
    if (results.length !== ops.length) return false
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!
      if (r._tag !== "Committed") continue
      const sealedOp = stored[i]!
      for (const e of r.events) {
        if (!isMessageEvent(e) || e.data.body === "") continue
        if (sealedOp === ops[i] || (sealedOp._tag !== "Send" && sealedOp._tag !== "Edit") || e.data.body !== sealedOp.body) return false
      }
    }
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!
      if (r._tag !== "Committed") continue
      for (const e of r.events) {
        // Only a Send or an Edit gets here: the check above refused any other op with a body.
        if (isMessageEvent(e) && e.data.body !== "") (e.data as Types.Mutable<Message>).body = (ops[i] as Extract<WriteOp, { _tag: "Send" | "Edit" }>).body
      }
    }
    return true
  }

  const commit: ChatStore["commit"] = (room, epoch, members, ops, shard) =>
    Effect.suspend(() => {
      const sealed = new Map<string, string>()
      const commitSealed = (stored: ReadonlyArray<WriteOp>) =>
        Effect.flatMap(store.commit(room, epoch, members, stored, shard), (results) => openResults(room, results, sealed))
      if (!ops.some((op) => op._tag === "Send" || op._tag === "Edit")) return commitSealed(ops)
      const hasEdits = ops.some((op) => op._tag === "Edit")
      // The warm path of a batch of sends: the key is known, sealing is synchronous.
      const known = hasEdits ? undefined : knownSealingKey(room)
      if (known !== undefined) {
        const stored = sealOps(room, known, ops, new Map(), sealed)
        return Either.isLeft(stored) ? Effect.fail(stored.left) : commitSealed(stored.right)
      }
      return Effect.flatMap(resolveSealingKey(room), (key) =>
        Effect.flatMap(editTargets(room, ops), (targets) => {
          const stored = sealOps(room, key, ops, targets, sealed)
          return Either.isLeft(stored) ? Effect.fail(stored.left) : commitSealed(stored.right)
        })
      )
    })

  /**
   * The plain commit: for the warm batch of sends (key known, no edits) sealing and opening
   * are synchronous, so it goes straight through to the store's `commitNow`; anything else
   * runs `commit` above to a callback.
   */
  const inner = store.commitNow
  const innerPrepared = store.commitPreparedNow
  const EMPTY_TARGETS: ReadonlyMap<number, string> = new Map()
  const commitNow: ChatStore["commitNow"] =
    inner === undefined
      ? undefined
      : (room, epoch, members, ops, shard, done) => {
          let bodies = false
          for (const op of ops) {
            if (op._tag === "Edit") return viaEffect(room, epoch, members, ops, shard, done)
            if (op._tag === "Send") bodies = true
          }
          let stored = ops
          if (bodies) {
            const key = knownSealingKey(room)
            if (key === undefined) return viaEffect(room, epoch, members, ops, shard, done)
            if (innerPrepared !== undefined) {
              // Sealed when the store writes the batch's group, back to back with the group's
              // other bodies (ChatStore.commitPreparedNow); the same ops on every call.
              let made: ReadonlyArray<WriteOp> | undefined
              const prepare = () => {
                if (made === undefined) {
                  const sealedOps = sealOps(room, key, ops, EMPTY_TARGETS, undefined)
                  if (Either.isLeft(sealedOps)) throw sealedOps.left
                  made = sealedOps.right
                }
                return made
              }
              return innerPrepared(room, epoch, members, shard, prepare, (error, results) => answerSealed(room, ops, made, error, results, done))
            }
            const sealedOps = sealOps(room, key, ops, EMPTY_TARGETS, undefined)
            if (Either.isLeft(sealedOps)) return done(sealedOps.left)
            stored = sealedOps.right
          }
          inner(room, epoch, members, stored, shard, (error, results) => answerSealed(room, ops, stored, error, results, done))
        }
  /**
   * A plain commit's answer with plaintext bodies: in place when every body is the one sealed
   * for its op (`stored`: the ops as written), else opened through the room's keys.
   */
  const answerSealed = (
    room: RoomId,
    ops: ReadonlyArray<WriteOp>,
    stored: ReadonlyArray<WriteOp> | undefined,
    error: Parameters<CommitDone>[0],
    results: ReadonlyArray<OpResult> | undefined,
    done: CommitDone
  ): void => {
    if (error !== undefined) return done(error)
    if (stored !== undefined && openInPlace(results!, ops, stored)) return done(undefined, results)
    const sealed = new Map<string, string>()
    if (stored !== undefined) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!
        if (op._tag === "Send") sealed.set((stored[i] as typeof op).body, op.body)
      }
    }
    Effect.runCallback(openResults(room, results!, sealed), { onExit: (exit) => answerExit(exit, done) })
  }
  const viaEffect = (...[room, epoch, members, ops, shard, done]: Parameters<NonNullable<ChatStore["commitNow"]>>) =>
    void Effect.runCallback(commit(room, epoch, members, ops, shard), { onExit: (exit) => answerExit(exit, done) })

  /**
   * The plain history page: when every data key the page names was opened here before (the
   * warm path of `openAll`), its bodies open synchronously, in place (the page is ours: see
   * ChatStore.historyNow); anything else opens through `openAll` to a callback.
   */
  const innerHistory = store.historyNow
  const historyNow: ChatStore["historyNow"] =
    innerHistory === undefined
      ? undefined
      : (room, before, limit, done) =>
          innerHistory(room, before, limit, (error, page) => {
            if (error !== undefined) return done(error)
            const messages = page!.messages as Array<Message>
            let opener: Opener | undefined
            let openerKey: string | undefined
            for (let i = 0; i < messages.length; i++) {
              const body = messages[i].body
              if (body === "") continue
              const id = bodyKeyId(body)
              if (Option.isNone(id)) return done(asStoreError("decrypt")(notCiphertext(room)))
              if (id.value !== openerKey) {
                openerKey = id.value
                opener = openers.get(`${room}\u0000${id.value}`)
                if (opener === undefined) return openPageViaEffect(room, page!, i, done)
              }
              const opened = opener!(body, messages[i].id)
              if (Either.isLeft(opened)) return done(asStoreError("decrypt")(opened.left))
              ;(messages[i] as { body: string }).body = opened.right
            }
            done(undefined, page)
          })
  /** The messages of a page from `from` on, whose keys are not all open yet (those before it are open). */
  const openPageViaEffect = (room: RoomId, page: HistoryPage, from: number, done: HistoryDone) => {
    const messages = page.messages as Array<Message>
    const at: Array<number> = []
    for (let i = from; i < messages.length; i++) if (messages[i].body !== "") at.push(i)
    Effect.runCallback(
      openAll(
        room,
        at.map((i) => messages[i].body),
        at.map((i) => messages[i].id)
      ),
      {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            return done(Option.isSome(failure) ? failure.value : new StoreError({ operation: "decrypt", cause: Cause.squash(exit.cause) }))
          }
          at.forEach((i, j) => ((messages[i] as { body: string }).body = exit.value[j]))
          done(undefined, page)
        }
      }
    )
  }

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
    // Members and device tokens: nothing sealed.
    pushAudience: (rooms) => store.pushAudience(rooms),
    roomKeys: (room) => store.roomKeys(room),
    addRoomKey: (key) => store.addRoomKey(key),
    allRoomKeys: store.allRoomKeys,
    rewrapRoomKey: (key) => store.rewrapRoomKey(key),
    fenceShard: (shard, epoch) => store.fenceShard(shard, epoch),
    // Intents carry no bodies: the worker reads messages through this layer to decrypt a preview.
    push: store.push,
    commit,
    ...(commitNow !== undefined ? { commitNow } : {}),
    ...(historyNow !== undefined ? { historyNow } : {}),
    events: (room, after, upTo, limit) =>
      Effect.flatMap(store.events(room, after, upTo, limit), (events) => openEvents(room, events)),
    history: (room, before, limit) =>
      Effect.flatMap(store.history(room, before, limit), (page) =>
        Effect.map(openAll(room, page.messages.map((m) => m.body), page.messages.map((m) => m.id)), (bodies) => ({
          ...page,
          messages: page.messages.map((m, i) => (m.body === "" ? m : { ...m, body: bodies[i] }))
        }))
      ),
    listRooms: (user, cursor, limit) =>
      Effect.flatMap(store.listRooms(user, cursor, limit), (page) =>
        Effect.map(Effect.forEach(page.rooms, openSummary, { concurrency: ROOM_KEY_CONCURRENCY }), (rooms) => ({
          ...page,
          rooms
        }))
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
