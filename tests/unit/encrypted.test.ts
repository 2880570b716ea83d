import { afterEach, describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Deferred, Effect, Layer, Ref, Runtime } from "effect"
import { encryptBody } from "../../src/crypto/body.ts"
import * as KeyRing from "../../src/crypto/KeyRing.ts"
import * as AesGcm from "../../src/platform/aesGcm.ts"
import { StoreError } from "../../core/errors.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import { ChatStoreTag, commitNowOf } from "../../storage/ChatStore.ts"
import type { ChatStore, WrappedRoomKey } from "../../storage/ChatStore.ts"
import * as Encrypted from "../../src/crypto/EncryptedStore.ts"
import { withEncryption } from "../../src/crypto/EncryptedStore.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"
import { rotateMasterKey } from "../../src/crypto/rotate.ts"

// Bodies open and are sealed through this module: pass-through spies count both.
vi.mock(import("../../src/platform/aesGcm.ts"), async (importOriginal) => {
  const actual = await importOriginal()
  return { ...actual, open: vi.fn(actual.open), sealText: vi.fn(actual.sealText) }
})

/**
 * The real in-memory store, seen through a thin probe: counts key calls, can hold roomKeys
 * answers at a barrier (to force a race), and can answer extra key rows. `inner` is the
 * undecorated store: what it returns is what is stored, and committing to it directly plays
 * the part of someone writing to the database behind the encryption layer.
 */
const makeProbe = (options?: { readonly beforeRoomKeysAnswer?: Effect.Effect<void> }) => {
  const inner = makeMemoryStore()
  const calls = { addRoomKey: 0, roomKeys: 0 }
  const extraKeys = new Map<string, Array<WrappedRoomKey>>()
  const store: ChatStore = {
    ...inner,
    roomKeys: (room) =>
      Effect.zipRight(
        options?.beforeRoomKeysAnswer ?? Effect.void,
        Effect.map(inner.roomKeys(room), (keys) => {
          calls.roomKeys += 1
          return [...keys, ...(extraKeys.get(room) ?? [])]
        })
      ),
    addRoomKey: (key) =>
      Effect.suspend(() => {
        calls.addRoomKey += 1
        return inner.addRoomKey(key)
      })
  }
  return { inner, store, calls, extraKeys }
}

const ALICE = "alice" as UserId
const BOB = "bob" as UserId
const ROOM_A = "5f0c2a4e-8c1d-4e0b-9f3a-1a2b3c4d0001" as RoomId
const ROOM_B = "5f0c2a4e-8c1d-4e0b-9f3a-1a2b3c4d0002" as RoomId
const ROOM_C = "5f0c2a4e-8c1d-4e0b-9f3a-1a2b3c4d0003" as RoomId
const MEMBERS = new Map<UserId, Role>([
  [ALICE, "owner"],
  [BOB, "member"]
])
const EPOCH = 1

const newMasterKey = () => globalThis.crypto.getRandomValues(new Uint8Array(32))
let nextMsg = 0
const send = (body: string, actor: UserId = ALICE): WriteOp => {
  nextMsg += 1
  return {
    _tag: "Send",
    actor,
    messageId: `00000000-0000-4000-8000-${String(nextMsg).padStart(12, "0")}`,
    clientMsgId: `c${nextMsg}`,
    body
  }
}

const createRooms = (inner: ChatStore, rooms: ReadonlyArray<RoomId>) =>
  Effect.forEach(rooms, (id) => inner.createGroupRoom({ id, name: "room", owner: ALICE, members: [BOB] }), {
    discard: true
  })

/** Bodies as the store holds them, oldest first. */
const storedBodies = (inner: ChatStore, room: RoomId) =>
  Effect.map(inner.history(room, undefined, 100), (page) => page.messages.map((m) => m.body).reverse())

/** Plaintext bodies through a decorated store, newest first. */
const historyBodies = (store: ChatStore, room: RoomId) =>
  Effect.map(store.history(room, undefined, 100), (page) => page.messages.map((m) => m.body))

/** Write a body straight into the store, below the encryption layer (an edit by its sender). */
const overwriteBody = (inner: ChatStore, room: RoomId, seq: number, body: string, actor: UserId = ALICE) =>
  Effect.flatMap(inner.commit(room, EPOCH, MEMBERS, [{ _tag: "Edit", actor, seq, body }]), ([r]) =>
    r._tag === "Committed" ? Effect.void : Effect.die(`overwrite rejected: ${r._tag}`)
  )

const setup = () =>
  Effect.gen(function* () {
    const probe = makeProbe()
    yield* createRooms(probe.inner, [ROOM_A, ROOM_B, ROOM_C])
    const master = newMasterKey()
    const ring = yield* KeyRing.make({ current: master })
    return { ...probe, master, ring, encrypted: withEncryption(probe.store, ring) }
  })

afterEach(() => {
  vi.restoreAllMocks()
})

describe("encrypted store - round trip", () => {
  it.effect("stores only ciphertext and answers plaintext from commit, history, events and listRooms", () =>
    Effect.gen(function* () {
      const { encrypted, inner } = yield* setup()
      const [created] = yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("hello bob")])
      expect(created._tag).toBe("Committed")
      if (created._tag !== "Committed") return
      expect(created.events[0].data).toMatchObject({ body: "hello bob", sender: ALICE })

      const [raw] = yield* storedBodies(inner, ROOM_A)
      expect(raw).toMatch(/^v2\.[0-9a-f]{16}\./)
      expect(raw).not.toContain("hello")
      const keys = yield* inner.roomKeys(ROOM_A)
      expect(keys).toHaveLength(1)
      expect(raw.split(".")[1]).toBe(keys[0].keyId)

      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("second", BOB)])
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["second", "hello bob"])
      const events = yield* encrypted.events(ROOM_A, 0, 100, 100)
      expect(events.map((e) => (e.data as { body: string }).body)).toEqual(["hello bob", "second"])
      const page = yield* encrypted.listRooms(ALICE, undefined, 10)
      expect(page.rooms.find((r) => r.id === ROOM_A)?.lastMessage?.body).toBe("second")
      expect(page.rooms.find((r) => r.id === ROOM_B)?.lastMessage).toBeUndefined()
    }))

  it.effect("encrypts edits, leaves deleted messages' empty bodies alone, and passes other ops through", () =>
    Effect.gen(function* () {
      const { encrypted, inner } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("first draft"), send("to delete")])
      const results = yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [
        { _tag: "Edit", actor: ALICE, seq: 1, body: "final text" },
        { _tag: "React", actor: BOB, seq: 1, emoji: "👍", remove: false },
        { _tag: "Delete", actor: ALICE, seq: 2 },
        { _tag: "Edit", actor: BOB, seq: 1, body: "not yours" }
      ])
      expect(results.map((r) => r._tag)).toEqual(["Committed", "Committed", "Committed", "Rejected"])
      const dataOf = (i: number) => (results[i] as { events: ReadonlyArray<{ data: unknown }> }).events[0].data
      expect(dataOf(0)).toMatchObject({ body: "final text", editedAt: expect.any(String) })
      expect(dataOf(1)).toEqual({ messageSeq: 1, emoji: "👍", user: BOB })
      expect(dataOf(2)).toMatchObject({ body: "", deleted: true })

      const [edited, deleted] = yield* storedBodies(inner, ROOM_A)
      expect(edited).toMatch(/^v2\./)
      expect(edited).not.toContain("final")
      expect(deleted).toBe("")
      const page = yield* encrypted.history(ROOM_A, undefined, 10)
      expect(page.messages.map((m) => [m.body, m.deleted ?? false])).toEqual([
        ["", true],
        ["final text", false]
      ])
      expect(page.messages[1].reactions).toEqual({ "👍": [BOB] })
    }))

  it.effect("does not create a room key for commits or reads without bodies", () =>
    Effect.gen(function* () {
      const { calls, encrypted, inner } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [{ _tag: "Rename", actor: ALICE, name: "renamed" }])
      yield* encrypted.events(ROOM_A, 0, 10, 10)
      yield* encrypted.history(ROOM_A, undefined, 10)
      expect(yield* inner.roomKeys(ROOM_A)).toEqual([])
      expect(calls).toEqual({ addRoomKey: 0, roomKeys: 0 })
    }))

  it.effect("answers commit results from the plaintext it just encrypted, and caches the room key", () =>
    Effect.gen(function* () {
      const { calls, encrypted } = yield* setup()
      const decrypt = vi.mocked(AesGcm.open)
      decrypt.mockClear()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("one")])
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("two"), { _tag: "Edit", actor: ALICE, seq: 1, body: "uno" }])
      expect(decrypt).not.toHaveBeenCalled()
      expect(calls.roomKeys).toBe(1)
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["two", "uno"])
      expect(decrypt).toHaveBeenCalledTimes(2)
      expect(calls.roomKeys).toBe(1)
    }))
})

describe("encrypted store - plain commit", () => {
  /**
   * The probe's store with a `commitNow`, as a SQL store has: its results are fresh copies
   * (the contract: the caller's to change), optionally rewritten, and kept in `answered`.
   */
  const setupNow = (rewrite?: (results: Array<OpResult>) => void) =>
    Effect.gen(function* () {
      const { inner, ring, store: probed } = yield* setup()
      const answered: Array<ReadonlyArray<OpResult>> = []
      const plain = commitNowOf(probed, Runtime.defaultRuntime)
      const store: ChatStore = {
        ...probed,
        commitNow: (room, epoch, members, ops, shard, done) =>
          plain(room, epoch, members, ops, shard, (error, results) => {
            if (error !== undefined) return done(error)
            const copy = structuredClone(results!) as Array<OpResult>
            rewrite?.(copy)
            answered.push(copy)
            done(undefined, copy)
          })
      }
      return { inner, answered, encrypted: withEncryption(store, ring) }
    })
  const commitNow = (store: ChatStore, ops: ReadonlyArray<WriteOp>) =>
    Effect.async<ReadonlyArray<OpResult>, unknown>((resume) =>
      store.commitNow!(ROOM_A, EPOCH, MEMBERS, ops, undefined, (error, results) =>
        resume(error !== undefined ? Effect.fail(error) : Effect.succeed(results!))
      )
    )
  const bodiesOf = (results: ReadonlyArray<OpResult>) =>
    results.map((r) => (r._tag === "Committed" ? ((r.events[0].data as { body?: string }).body ?? r.events[0].kind) : r._tag))

  it.effect("answers the store's own results with the plaintext put back, without decrypting, and stores ciphertext", () =>
    Effect.gen(function* () {
      const { answered, encrypted, inner } = yield* setupNow()
      // The first send resolves the room's key (the effect path); later ones are plain.
      yield* commitNow(encrypted, [send("first")])
      const decrypt = vi.mocked(AesGcm.open)
      decrypt.mockClear()
      const results = yield* commitNow(encrypted, [send("two"), { _tag: "Rename", actor: ALICE, name: "r" }, send("three", BOB)])
      expect(results).toBe(answered[answered.length - 1])
      expect(bodiesOf(results)).toEqual(["two", "room.updated", "three"])
      expect(decrypt).not.toHaveBeenCalled()
      const stored = yield* storedBodies(inner, ROOM_A)
      expect(stored).toHaveLength(3)
      for (const body of stored) expect(body).toMatch(/^v2\.[0-9a-f]{16}\./)
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["three", "two", "first"])
    }))

  it.effect("opens through the room's keys, changing nothing in place, when a result carries a body this batch did not seal", () =>
    Effect.gen(function* () {
      // The second send's event is swapped for the first message as stored (ciphertext):
      // only the key can open it, and the first send's plaintext is still put back.
      let earlier: unknown
      const { answered, encrypted, inner } = yield* setupNow((results) => {
        const r = results[1]
        if (earlier !== undefined && r?._tag === "Committed") (r.events[0] as { data: unknown }).data = structuredClone(earlier)
      })
      yield* commitNow(encrypted, [send("the first message")])
      earlier = (yield* inner.history(ROOM_A, undefined, 1)).messages[0]
      const decrypt = vi.mocked(AesGcm.open)
      decrypt.mockClear()
      const results = yield* commitNow(encrypted, [send("second"), send("third")])
      expect(bodiesOf(results)).toEqual(["second", "the first message"])
      expect(decrypt).toHaveBeenCalledTimes(1)
      // The store's answer is left as it was: ciphertext where the store put ciphertext.
      const given = answered[answered.length - 1]
      expect(results).not.toBe(given)
      for (const body of bodiesOf(given)) expect(body).toMatch(/^v2\./)
    }))
})

describe("encrypted store - prepared commit", () => {
  /**
   * The probe's store with `commitPreparedNow`, as the SQL store has: it holds each batch and
   * calls `prepare` only when `write` is called (as a group is written), then commits what
   * `prepare` made. `commitNow` is there too, and counted: a batch with bodies must not use it.
   */
  const setupPrepared = () =>
    Effect.gen(function* () {
      const { inner, ring, store: probed } = yield* setup()
      const plain = commitNowOf(probed, Runtime.defaultRuntime)
      const held: Array<() => void> = []
      const made: Array<ReadonlyArray<WriteOp>> = []
      let viaCommitNow = 0
      const store: ChatStore = {
        ...probed,
        commitNow: (room, epoch, members, ops, shard, done) => {
          viaCommitNow += 1
          plain(room, epoch, members, ops, shard, done)
        },
        commitPreparedNow: (room, epoch, members, shard, prepare, done) =>
          void held.push(() => {
            let ops: ReadonlyArray<WriteOp>
            try {
              ops = prepare()
            } catch (e) {
              return done(e as StoreError)
            }
            // A retry asks again: the same ops.
            expect(prepare()).toBe(ops)
            made.push(ops)
            plain(room, epoch, members, ops, shard, (error, results) => done(error, results && (structuredClone(results) as Array<OpResult>)))
          })
      }
      const write = () => {
        for (const f of held.splice(0)) f()
      }
      return { inner, made, held, write, viaCommitNow: () => viaCommitNow, encrypted: withEncryption(store, ring) }
    })
  const commitNow = (store: ChatStore, room: RoomId, ops: ReadonlyArray<WriteOp>, after?: () => void) =>
    Effect.async<ReadonlyArray<OpResult>, unknown>((resume) => {
      store.commitNow!(room, EPOCH, MEMBERS, ops, undefined, (error, results) =>
        resume(error !== undefined ? Effect.fail(error) : Effect.succeed(results!))
      )
      after?.()
    })

  it.effect("seals a batch's bodies when the store writes it, not before, and answers plaintext", () =>
    Effect.gen(function* () {
      const { encrypted, inner, made, held, write, viaCommitNow } = yield* setupPrepared()
      // The first send of a room resolves its key (the effect path); later ones are plain.
      yield* commitNow(encrypted, ROOM_A, [send("first")], write)
      const before = viaCommitNow()
      const sealed = vi.mocked(AesGcm.sealText)
      sealed.mockClear()
      const results = yield* commitNow(encrypted, ROOM_A, [send("two"), send("three", BOB)], () => {
        // Handed to the store, not sealed yet: nothing is sealed until the store writes.
        expect(held).toHaveLength(1)
        expect(sealed).not.toHaveBeenCalled()
        write()
        expect(sealed).toHaveBeenCalledTimes(2)
      })
      expect(results.map((r) => (r._tag === "Committed" ? (r.events[0].data as { body: string }).body : r._tag))).toEqual(["two", "three"])
      expect(viaCommitNow()).toBe(before)
      // What the store was given to write is ciphertext only.
      const last = made[made.length - 1]!
      expect(last).toHaveLength(2)
      for (const op of last) expect((op as { body: string }).body).toMatch(/^v2\.[0-9a-f]{16}\./)
      const stored = yield* storedBodies(inner, ROOM_A)
      for (const body of stored) expect(body).toMatch(/^v2\./)
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["three", "two", "first"])
    }))

  it.effect("a prepare that throws fails its own batch; a batch of another room written with it commits", () =>
    Effect.gen(function* () {
      const { encrypted, write } = yield* setupPrepared()
      yield* commitNow(encrypted, ROOM_A, [send("a1")], write)
      yield* commitNow(encrypted, ROOM_B, [send("b1")], write)
      vi.mocked(AesGcm.sealText).mockImplementationOnce(() => {
        throw new Error("no cipher")
      })
      // Both batches are handed over before the store writes them together.
      const answers = yield* Effect.async<Array<unknown>>((resume) => {
        const out: Array<unknown> = []
        const answer = (i: number) => (error: unknown) => {
          out[i] = error ?? "committed"
          if (out.filter((x) => x !== undefined).length === 2) resume(Effect.succeed(out))
        }
        encrypted.commitNow!(ROOM_A, EPOCH, MEMBERS, [send("a2")], undefined, answer(0))
        encrypted.commitNow!(ROOM_B, EPOCH, MEMBERS, [send("b2")], undefined, answer(1))
        write()
      })
      expect(answers[0]).toBeInstanceOf(StoreError)
      expect(answers[1]).toBe("committed")
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["a1"])
      expect(yield* historyBodies(encrypted, ROOM_B)).toEqual(["b2", "b1"])
    }))
})

describe("encrypted store - failures", () => {
  it.effect("fails with StoreError decrypt when a stored body is tampered with", () =>
    Effect.gen(function* () {
      const { encrypted, inner } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("integrity matters")])
      const [body] = yield* storedBodies(inner, ROOM_A)
      // Change one character in the middle of the ciphertext field: a whole 6-bit group, never padding.
      const parts = body.split(".")
      const i = Math.floor(parts[3].length / 2)
      parts[3] = parts[3].slice(0, i) + (parts[3][i] === "A" ? "B" : "A") + parts[3].slice(i + 1)
      yield* overwriteBody(inner, ROOM_A, 1, parts.join("."))
      const error = yield* Effect.flip(encrypted.history(ROOM_A, undefined, 10))
      expect(error).toBeInstanceOf(StoreError)
      expect(error.operation).toBe("decrypt")
      expect(error.cause).toMatchObject({ _tag: "DecryptFailed", kind: "data", room: ROOM_A })
    }))

  it.effect("fails with StoreError decrypt instead of returning a plaintext body found in the store", () =>
    Effect.gen(function* () {
      const { encrypted, inner } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("x")])
      yield* overwriteBody(inner, ROOM_A, 1, "sneaked in as plaintext")
      const error = yield* Effect.flip(encrypted.events(ROOM_A, 0, 10, 10))
      expect(error.operation).toBe("decrypt")
      expect((yield* Effect.flip(encrypted.listRooms(ALICE, undefined, 10))).operation).toBe("decrypt")
    }))

  it.effect("fails when a body is copied into another room's message", () =>
    Effect.gen(function* () {
      const { encrypted, inner, master } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("only for room A")])
      yield* encrypted.commit(ROOM_B, EPOCH, MEMBERS, [send("room B's own")])
      const [fromA] = yield* storedBodies(inner, ROOM_A)
      yield* overwriteBody(inner, ROOM_B, 1, fromA)
      const error = yield* Effect.flip(encrypted.history(ROOM_B, undefined, 10))
      expect(error.operation).toBe("decrypt")
      expect(error.cause).toMatchObject({ _tag: "KeyUnavailable", kind: "data", room: ROOM_B })

      // Room A's key row copied too, onto a room without a key: the wrapped key is bound to
      // room A, so even a node holding the right master key cannot use it for room C.
      const [keyA] = yield* inner.roomKeys(ROOM_A)
      yield* inner.addRoomKey({ ...keyA, room: ROOM_C })
      yield* inner.commit(ROOM_C, EPOCH, MEMBERS, [send(fromA)])
      const reader = withEncryption(inner, yield* KeyRing.make({ current: new Uint8Array(master) }))
      const moved = yield* Effect.flip(reader.history(ROOM_C, undefined, 10))
      expect(moved.operation).toBe("decrypt")
      expect(moved.cause).toMatchObject({ _tag: "DecryptFailed", kind: "master", room: ROOM_C })
    }))

  it.effect("fails naming the master key id, without key bytes, when read with the wrong master key", () =>
    Effect.gen(function* () {
      const { encrypted, inner, master, ring } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("secret")])
      const wrongMaster = newMasterKey()
      const other = withEncryption(inner, yield* KeyRing.make({ current: wrongMaster }))
      const error = yield* Effect.flip(other.history(ROOM_A, undefined, 10))
      expect(error.operation).toBe("decrypt")
      expect(error.cause).toMatchObject({ _tag: "KeyUnavailable", kind: "master", keyId: ring.currentMasterKeyId })
      const text = `${String(error)} ${String(error.cause)} ${(error.cause as Error).message} ${JSON.stringify(error)}`
      expect(text).toContain(ring.currentMasterKeyId)
      for (const k of [master, wrongMaster]) {
        const hex = Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("")
        expect(text).not.toContain(hex)
        expect(text).not.toContain(btoa(String.fromCharCode(...k)))
      }
      // Writing fails too (StoreError encrypt) rather than starting a second key for the room.
      const writeError = yield* Effect.flip(other.commit(ROOM_A, EPOCH, MEMBERS, [send("nope")]))
      expect(writeError).toMatchObject({ _tag: "StoreError", operation: "encrypt" })
      expect(yield* inner.roomKeys(ROOM_A)).toHaveLength(1)
      expect(yield* storedBodies(inner, ROOM_A)).toHaveLength(1)
    }))
})

describe("encrypted store - room keys", () => {
  it.effect("converges on one data key when two nodes send a room's first message at once", () =>
    Effect.gen(function* () {
      const arrived = yield* Ref.make(0)
      const bothLooked = yield* Deferred.make<void>()
      // Hold every roomKeys answer until both nodes have asked: both see "no key yet".
      const barrier = Ref.updateAndGet(arrived, (n) => n + 1).pipe(
        Effect.flatMap((n) => (n >= 2 ? Deferred.succeed(bothLooked, undefined) : Effect.void)),
        Effect.zipRight(Deferred.await(bothLooked))
      )
      const { calls, inner, store } = makeProbe({ beforeRoomKeysAnswer: barrier })
      yield* createRooms(inner, [ROOM_A])
      const master = newMasterKey()
      const nodeA = withEncryption(store, yield* KeyRing.make({ current: master }))
      const nodeB = withEncryption(store, yield* KeyRing.make({ current: new Uint8Array(master) }))

      yield* Effect.all(
        [
          nodeA.commit(ROOM_A, EPOCH, MEMBERS, [send("from A")]),
          nodeB.commit(ROOM_A, EPOCH, MEMBERS, [send("from B", BOB)])
        ],
        { concurrency: "unbounded" }
      )
      expect(calls.addRoomKey).toBe(2)
      const keys = yield* inner.roomKeys(ROOM_A)
      expect(keys).toHaveLength(1)
      const bodies = yield* storedBodies(inner, ROOM_A)
      expect(bodies.map((b) => b.split(".")[1])).toEqual([keys[0].keyId, keys[0].keyId])

      const reader = withEncryption(inner, yield* KeyRing.make({ current: new Uint8Array(master) }))
      expect([...(yield* historyBodies(reader, ROOM_A))].sort()).toEqual(["from A", "from B"])
    }))

  it.effect("reads a body under a key the room gained after its keys were cached", () =>
    Effect.gen(function* () {
      const { encrypted, extraKeys, inner, ring } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("under the first key")])
      // A second key appears behind this node's back (the contract allows one per room today;
      // a future data key rotation would add more), and a body under it.
      const second = yield* ring.newDataKey(ROOM_A)
      extraKeys.set(ROOM_A, [{ ...second.wrapped, room: ROOM_A, createdAt: new Date().toISOString() }])
      yield* overwriteBody(inner, ROOM_A, 1, yield* encryptBody(second.key, ROOM_A, "under the second key"))
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["under the second key"])
    }))

  it.effect("layer wraps the ChatStoreTag provided below it", () =>
    Effect.gen(function* () {
      const inner = makeMemoryStore()
      yield* createRooms(inner, [ROOM_A])
      const live = Encrypted.layer.pipe(
        Layer.provide(Layer.merge(Layer.succeed(ChatStoreTag, inner), KeyRing.layer({ current: newMasterKey() })))
      )
      const bodies = yield* Effect.gen(function* () {
        const store = yield* ChatStoreTag
        yield* store.commit(ROOM_A, EPOCH, MEMBERS, [send("through the layer")])
        return yield* historyBodies(store, ROOM_A)
      }).pipe(Effect.provide(live))
      expect(bodies).toEqual(["through the layer"])
      expect((yield* storedBodies(inner, ROOM_A))[0]).toMatch(/^v2\./)
    }))
})

describe("encrypted store - master key rotation", () => {
  it.effect("rewraps old room keys only, keeps messages readable, and the old master key is then not needed", () =>
    Effect.gen(function* () {
      const inner = makeMemoryStore()
      const rooms = [ROOM_A, ROOM_B, ROOM_C]
      yield* createRooms(inner, rooms)
      const allKeys = () => Effect.map(inner.allRoomKeys, (ks) => ks.map((k) => ({ ...k })))
      const allBodies = Effect.forEach(rooms, (r) => storedBodies(inner, r))
      const oldMaster = newMasterKey()
      const newMaster = newMasterKey()
      const before = yield* KeyRing.make({ current: oldMaster })
      const writerBefore = withEncryption(inner, before)
      yield* writerBefore.commit(ROOM_A, EPOCH, MEMBERS, [send("a1")])
      yield* writerBefore.commit(ROOM_B, EPOCH, MEMBERS, [send("b1")])

      const rotating = yield* KeyRing.make({ current: newMaster, old: [oldMaster] })
      const writerDuring = withEncryption(inner, rotating)
      yield* writerDuring.commit(ROOM_C, EPOCH, MEMBERS, [send("c1")])
      // Old keys still read through the rotating ring; new rooms get keys under the new master.
      expect(yield* historyBodies(writerDuring, ROOM_A)).toEqual(["a1"])
      expect((yield* inner.roomKeys(ROOM_C))[0].masterKeyId).toBe(rotating.currentMasterKeyId)

      const after = yield* KeyRing.make({ current: newMaster })
      // Without the old key, rotation refuses up front and writes nothing.
      const keysBefore = yield* allKeys()
      const missing = yield* Effect.flip(rotateMasterKey(inner, after))
      expect(missing).toMatchObject({ _tag: "KeyUnavailable", kind: "master", keyId: before.currentMasterKeyId })
      expect(yield* allKeys()).toEqual(keysBefore)

      const messagesBefore = yield* allBodies
      expect(yield* rotateMasterKey(inner, rotating)).toEqual({ rewrapped: 2, alreadyCurrent: 1 })
      expect(yield* rotateMasterKey(inner, rotating)).toEqual({ rewrapped: 0, alreadyCurrent: 3 })
      expect(yield* allBodies).toEqual(messagesBefore)
      const keysAfter = yield* allKeys()
      expect(keysAfter.map((k) => [k.room, k.keyId])).toEqual(keysBefore.map((k) => [k.room, k.keyId]))
      expect(new Set(keysAfter.map((k) => k.masterKeyId))).toEqual(new Set([after.currentMasterKeyId]))

      // A fresh node that only knows the new master key reads everything, and writes on.
      const reader = withEncryption(inner, after)
      expect(yield* historyBodies(reader, ROOM_A)).toEqual(["a1"])
      expect(yield* historyBodies(reader, ROOM_B)).toEqual(["b1"])
      expect(yield* historyBodies(reader, ROOM_C)).toEqual(["c1"])
      yield* reader.commit(ROOM_A, EPOCH, MEMBERS, [send("a2")])
      expect(yield* historyBodies(reader, ROOM_A)).toEqual(["a2", "a1"])
    }))
})

describe("encrypted store - message binding", () => {
  it.effect("encrypted - a body stored under another message of the same room fails to decrypt instead of showing there", () =>
    Effect.gen(function* () {
      const { encrypted, inner } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("alice's words", ALICE), send("bob's words", BOB)])
      const [first] = yield* storedBodies(inner, ROOM_A)
      // Bob's row (seq 2) now holds alice's ciphertext, as a direct UPDATE would leave it.
      yield* overwriteBody(inner, ROOM_A, 2, first!, BOB)
      const error = yield* Effect.flip(encrypted.history(ROOM_A, undefined, 100))
      expect(error).toMatchObject({ _tag: "StoreError", operation: "decrypt" })
      expect(yield* Effect.flip(encrypted.events(ROOM_A, 0, 100, 100))).toMatchObject({ operation: "decrypt" })
    }))

  it.effect("encrypted - v1 bodies (bound to the room only) written before stay readable", () =>
    Effect.gen(function* () {
      const { encrypted, inner, ring } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("new style")])
      const [keyRow] = yield* inner.roomKeys(ROOM_A)
      const key = yield* ring.unwrap(keyRow!)
      const old = yield* encryptBody(key, ROOM_A, "old style")
      expect(old).toMatch(/^v1\./)
      yield* overwriteBody(inner, ROOM_A, 1, old)
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["old style"])
      expect((yield* encrypted.listRooms(ALICE, undefined, 10)).rooms.find((r) => r.id === ROOM_A)?.lastMessage).toEqual({
        seq: 1,
        sender: ALICE,
        body: "old style",
        ts: expect.any(String)
      })
    }))

  it.effect("encrypted - an edit is bound to its message; one in the batch that sent it is sealed v1 and reads back", () =>
    Effect.gen(function* () {
      const { encrypted, inner } = yield* setup()
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("draft")])
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [{ _tag: "Edit", actor: ALICE, seq: 1, body: "final" }])
      yield* encrypted.commit(ROOM_A, EPOCH, MEMBERS, [send("x"), { _tag: "Edit", actor: ALICE, seq: 3, body: "x edited" }])
      expect((yield* storedBodies(inner, ROOM_A)).map((b) => b.slice(0, 2))).toEqual(["v2", "v1"])
      expect(yield* historyBodies(encrypted, ROOM_A)).toEqual(["x edited", "final"])
    }))
})
