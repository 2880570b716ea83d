/**
 * The push worker against local servers that speak each provider's real protocol
 * (tests/support/pushEndpoints.ts): Web Push payloads are decrypted with the subscription's
 * private key and the VAPID JWT verified; APNs requests arrive over HTTP/2 with an ES256
 * provider token; FCM gets an OAuth2 JWT grant and a v1 message. The queue is the memory
 * store's; the TestClock moves time (commit times, settling, retry delays).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { makeLocal } from "../../src/chat/Presence.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import { makeNodeHttp2Client } from "../../src/platform/http2.node.ts"
import type { PushProvider } from "../../src/push/Provider.ts"
import { makeApns } from "../../src/push/providers/apns.ts"
import { makeFcm, parseServiceAccount } from "../../src/push/providers/fcm.ts"
import { generateVapidKeys, makeWebPush } from "../../src/push/providers/webPush.ts"
import { makePushWorker, type PushWorkerOptions } from "../../src/push/PushWorker.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import {
  type ApnsServer,
  type FcmServer,
  startApnsServer,
  startFcmServer,
  startWebPushEndpoint,
  type WebPushEndpoint
} from "../support/pushEndpoints.ts"

const vapid = generateVapidKeys()
const http2 = makeNodeHttp2Client()
let web: WebPushEndpoint
let apns: ApnsServer
let fcm: FcmServer

beforeAll(async () => {
  ;[web, apns, fcm] = await Promise.all([startWebPushEndpoint(() => vapid.publicKey), startApnsServer(), startFcmServer()])
})
afterAll(async () => {
  await http2.close()
  await Promise.all([web?.close(), apns?.close(), fcm?.close()])
})

const providers = (): Array<PushProvider> => [
  makeWebPush({ vapid, subject: "mailto:ops@example.com", ttlSeconds: 3600 }),
  makeApns({ keyPem: apns.keyPem, keyId: apns.keyId, teamId: apns.teamId, topic: apns.topic, url: apns.url, ttlSeconds: 3600, http2 }),
  makeFcm({ account: parseServiceAccount(fcm.serviceAccount), url: fcm.url, ttlSeconds: 3600 })
]

const options = (over: Partial<PushWorkerOptions> = {}): PushWorkerOptions => ({
  pollMs: 100,
  settleMs: 0,
  leaseMs: 30_000,
  maxAttempts: 5,
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
  suppress: "room",
  previewChars: 0,
  rooms: 16,
  sendConcurrency: 8,
  ...over
})

const tag = () => crypto.randomUUID().slice(0, 8)

/** A group room of alice and `others`; alice's sends go through the store as an actor's would. */
const room = (store: ChatStore, others: ReadonlyArray<UserId>) =>
  Effect.gen(function* () {
    const alice = `alice-${tag()}` as UserId
    const r = yield* store.createGroupRoom({ id: crypto.randomUUID() as RoomId, name: "r", owner: alice, members: others })
    const say = (body: string, from: UserId = alice) =>
      Effect.gen(function* () {
        const head = Option.getOrThrow(yield* store.loadRoom(r.id))
        yield* store.commit(r.id, head.epoch, head.members as ReadonlyMap<UserId, Role>, [
          { _tag: "Send", actor: from, messageId: crypto.randomUUID(), clientMsgId: crypto.randomUUID(), body }
        ])
      })
    return { id: r.id, alice, say }
  })

/** A store call the worker made: its name (`push.<name>` for the queue's) and arguments. */
interface Call {
  readonly name: string
  readonly args: ReadonlyArray<unknown>
}

/** Wraps every function and Effect member of `target`, recording each call in `calls`. */
const recorded = <T extends object>(target: T, calls: Array<Call>, prefix = ""): T => {
  const out: Record<string, unknown> = {}
  for (const [key, member] of Object.entries(target)) {
    const name = `${prefix}${key}`
    if (typeof member === "function") {
      out[key] = (...args: Array<unknown>) => {
        calls.push({ name, args })
        return (member as (...a: Array<unknown>) => unknown)(...args)
      }
    } else if (Effect.isEffect(member)) {
      out[key] = Effect.suspend(() => {
        calls.push({ name, args: [] })
        return member
      })
    } else out[key] = member
  }
  return out as T
}

/** The memory store with every call (the push queue's included) recorded. */
const recordedStore = (inner: ChatStore = makeMemoryStore()) => {
  const calls: Array<Call> = []
  const store: ChatStore = { ...recorded(inner, calls), push: recorded(inner.push, calls, "push.") }
  return { store, calls }
}

const ackedRooms = (call: Call) => new Set((call.args[0] as ReadonlyArray<{ readonly room: RoomId }>).map((k) => k.room))

describe("push worker", () => {
  it.effect("push - a claim of many rooms with nobody to notify costs one audience lookup and one ack, asks presence nothing", () =>
    Effect.gen(function* () {
      const { calls, store } = recordedStore()
      const bobs = Array.from({ length: 12 }, () => `bob-${tag()}` as UserId)
      const rooms = yield* Effect.forEach(bobs, (bob) => room(store, [bob]))
      // Each bob had a device when the message was committed (so it has an intent) and
      // removed it before the worker claimed: nobody is left to notify.
      for (const bob of bobs) yield* store.registerDevice(bob, `gone-${bob}`, "fcm")
      for (const r of rooms) yield* r.say("nobody has a device")
      for (const bob of bobs) yield* store.unregisterDevice(bob, `gone-${bob}`)
      const presenceCalls: Array<Call> = []
      const presence = recorded(makeLocal(), presenceCalls)
      const worker = makePushWorker({ store, presence, providers: providers(), options: options() })
      calls.length = 0

      const reports = yield* worker.runOnce
      expect(reports.map((r) => r.room).sort()).toEqual(rooms.map((r) => r.id).sort())
      for (const r of reports) expect(r).toMatchObject({ sent: 0, pruned: 0, failed: 0, retried: 0 })
      expect(calls.map((c) => c.name)).toEqual(["push.claim", "pushAudience", "push.ack"])
      expect(ackedRooms(calls[2]!)).toEqual(new Set(rooms.map((r) => r.id)))
      expect(presenceCalls).toEqual([])
      expect((yield* store.push.stats).depth).toBe(0)
    }))

  it.effect("push - in one claim, rooms with a device to notify are delivered as before; the gone, the device-less and the looking are acked together", () =>
    Effect.gen(function* () {
      const inner = makeMemoryStore()
      const presence = makeLocal()
      const t = tag()
      const [bob, cat, dan, gus] = ["bob", "cat", "dan", "gus"].map((n) => `${n}-${t}` as UserId)
      const eves = [1, 2, 3].map(() => `eve-${tag()}` as UserId)
      const silent = yield* Effect.forEach(eves, (eve) => room(inner, [eve]))
      const notified = [yield* room(inner, [bob!]), yield* room(inner, [cat!])]
      const looking = yield* room(inner, [dan!])
      const gone = yield* room(inner, [gus!])
      const devices = { bob: `bob-${t}`, cat: `cat-${t}`, dan: `dan-${t}`, gus: `gus-${t}` }
      yield* inner.registerDevice(bob!, web.subscription(devices.bob), "webpush")
      yield* inner.registerDevice(cat!, web.subscription(devices.cat), "webpush")
      yield* inner.registerDevice(dan!, web.subscription(devices.dan), "webpush")
      yield* inner.registerDevice(gus!, web.subscription(devices.gus), "webpush")
      yield* presence.join(looking.id, dan!)
      // The silent rooms' members had a device when the message was committed, gone by the claim.
      for (const eve of eves) yield* inner.registerDevice(eve, `gone-${eve}`, "fcm")
      for (const r of [...silent, ...notified, looking, gone]) yield* r.say("hello")
      for (const eve of eves) yield* inner.unregisterDevice(eve, `gone-${eve}`)
      // `gone` was deleted after its intent was written: the lookup does not know it.
      const { calls, store } = recordedStore({
        ...inner,
        pushAudience: (rooms) =>
          Effect.map(inner.pushAudience(rooms), (found) => new Map([...found].filter(([room]) => room !== gone.id)))
      })
      const worker = makePushWorker({ store, presence, providers: providers(), options: options() })

      const reports = new Map((yield* worker.runOnce).map((r) => [r.room, r]))
      expect(reports.size).toBe(7)
      for (const r of notified) expect(reports.get(r.id)).toMatchObject({ sent: 1, pruned: 0, failed: 0, retried: 0 })
      for (const r of [...silent, looking, gone]) expect(reports.get(r.id)).toMatchObject({ sent: 0 })
      const names = calls.map((c) => c.name)
      expect(names.filter((n) => n === "pushAudience")).toHaveLength(1)
      expect(names.filter((n) => n === "loadRoom" || n === "listDevices")).toEqual([])
      // The rooms with nobody to notify first, in one ack; then each delivered room acks its own.
      const [together, ...own] = calls.filter((c) => c.name === "push.ack").map(ackedRooms)
      expect(together).toEqual(new Set([...silent, looking, gone].map((r) => r.id)))
      expect(own).toHaveLength(notified.length)
      expect(new Set(own.flatMap((rooms) => [...rooms]))).toEqual(new Set(notified.map((r) => r.id)))
      expect(names.filter((n) => n === "events")).toHaveLength(2)
      expect(names.filter((n) => n === "push.markSent")).toHaveLength(2)
      const mine = web.received.items.filter((n) => Object.values(devices).includes(n.device))
      expect(mine.map((n) => n.device).sort()).toEqual([devices.bob, devices.cat].sort())
      for (const n of mine) expect(n.payload).toMatchObject({ type: "message", seq: "1", count: "1" })
      expect((yield* store.push.stats).depth).toBe(0)
    }))

  it.effect("push - apns: success, 410 Unregistered, 429 and 500 in turn: the dead token is removed, the others retried and delivered once", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const t = tag()
      const [bob, cat, dan, eve] = ["bob", "cat", "dan", "eve"].map((n) => `${n}-${t}` as UserId)
      const r = yield* room(store, [bob!, cat!, dan!, eve!])
      const tokens = { ok: `ok${t}`, gone: `gone${t}`, busy: `busy${t}`, broken: `broken${t}` }
      yield* store.registerDevice(bob!, tokens.ok, "apns")
      yield* store.registerDevice(cat!, tokens.gone, "apns")
      yield* store.registerDevice(dan!, tokens.busy, "apns")
      yield* store.registerDevice(eve!, tokens.broken, "apns")
      apns.plan(tokens.gone, ["gone"])
      apns.plan(tokens.busy, ["busy"])
      apns.plan(tokens.broken, ["broken"])
      yield* r.say("secret words")
      const worker = makePushWorker({ store, presence: makeLocal(), providers: providers(), options: options() })

      const [first] = yield* worker.runOnce
      expect(first).toMatchObject({ sent: 1, pruned: 1, retried: 2, failed: 0 })
      expect(yield* store.listDevices(cat!)).toEqual([])
      expect(apns.rejected).toEqual([])
      // Not before the backoff (1 s after the first attempt).
      expect(yield* worker.runOnce).toEqual([])
      yield* TestClock.adjust("1 second")
      const [second] = yield* worker.runOnce
      expect(second).toMatchObject({ sent: 2, pruned: 0, retried: 0 })
      expect((yield* store.push.stats).depth).toBe(0)

      const mine = apns.received.items.filter((n) => Object.values(tokens).includes(n.token))
      expect(mine.map((n) => n.token).sort()).toEqual([tokens.broken, tokens.busy, tokens.ok].sort())
      for (const n of mine) {
        expect(n.headers["apns-topic"]).toBe(apns.topic)
        expect(n.headers["apns-push-type"]).toBe("alert")
        expect(n.headers["apns-collapse-id"]).toBe(r.id.replace(/-/g, ""))
        expect(n.payload).toMatchObject({ room: r.id, sender: r.alice, seq: "1", count: "1" })
        expect(JSON.stringify(n.payload)).not.toContain("secret words")
      }
      // Each scripted token was tried once more after its failure, the healthy one only once.
      expect(apns.attempts.filter((x) => x === tokens.ok).length).toBe(1)
      expect(apns.attempts.filter((x) => x === tokens.busy).length).toBe(2)
      expect(apns.attempts.filter((x) => x === tokens.broken).length).toBe(2)
    }))

  it.effect("push - web push: a burst of 5 messages becomes one notification per device, decrypted with the subscription key, VAPID-signed, without the text", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const bob = `bob-${tag()}` as UserId
      const r = yield* room(store, [bob])
      const [laptop, phone] = [`laptop-${tag()}`, `phone-${tag()}`]
      yield* store.registerDevice(bob, web.subscription(laptop), "webpush")
      yield* store.registerDevice(bob, web.subscription(phone), "webpush")
      const worker = makePushWorker({ store, presence: makeLocal(), providers: providers(), options: options({ settleMs: 1500 }) })
      for (let i = 1; i <= 5; i++) {
        yield* r.say(`private text ${i}`)
        yield* TestClock.adjust("200 millis")
      }
      // 1 s after the first message: the room has not settled.
      expect(yield* worker.runOnce).toEqual([])
      yield* TestClock.adjust("500 millis")
      const [report] = yield* worker.runOnce
      expect(report).toMatchObject({ sent: 2 })
      const mine = web.received.items.filter((n) => n.device === laptop || n.device === phone)
      expect(mine.map((n) => n.device).sort()).toEqual([laptop, phone].sort())
      for (const n of mine) {
        expect(n.payload).toMatchObject({ type: "message", room: r.id, sender: r.alice, seq: "5", count: "5", body: "5 new messages" })
        expect(JSON.stringify(n.payload)).not.toContain("private text")
        expect(n.topic).toBe(r.id.replace(/-/g, ""))
        expect(n.ttl).toBe("3600")
        expect(n.vapid.sub).toBe("mailto:ops@example.com")
        expect(n.vapid.exp).toBeGreaterThan(Date.now() / 1000)
      }
    }))

  it.effect("push - a redelivered intent (the worker died before its ack) does not notify a device twice", () =>
    Effect.gen(function* () {
      const inner = makeMemoryStore()
      let crash = true
      // The first ack is lost, as when the worker is killed between sending and acking.
      const store: ChatStore = {
        ...inner,
        push: { ...inner.push, ack: (keys) => (crash ? Effect.sync(() => void (crash = false)) : inner.push.ack(keys)) }
      }
      const bob = `bob-${tag()}` as UserId
      const r = yield* room(store, [bob])
      const device = `once-${tag()}`
      yield* store.registerDevice(bob, web.subscription(device), "webpush")
      yield* r.say("hi")
      const worker = makePushWorker({ store, presence: makeLocal(), providers: providers(), options: options({ leaseMs: 5_000 }) })
      expect((yield* worker.runOnce)[0]).toMatchObject({ sent: 1 })
      expect(yield* worker.runOnce).toEqual([])
      yield* TestClock.adjust("5 seconds")
      const [again] = yield* worker.runOnce
      expect(again).toMatchObject({ sent: 0, retried: 0 })
      expect((yield* store.push.stats).depth).toBe(0)
      expect(web.received.items.filter((n) => n.device === device).length).toBe(1)
    }))

  it.effect("push - fcm: the OAuth2 JWT grant and the v1 message; UNREGISTERED prunes the token; the opt-in preview is truncated", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const t = tag()
      const [bob, cat] = [`bob-${t}`, `cat-${t}`] as Array<UserId>
      const r = yield* room(store, [bob!, cat!])
      yield* store.registerDevice(bob!, `fcm-ok-${t}`, "fcm")
      yield* store.registerDevice(cat!, `fcm-gone-${t}`, "fcm")
      fcm.plan(`fcm-gone-${t}`, ["gone"])
      yield* r.say("hello wonderful world")
      const worker = makePushWorker({ store, presence: makeLocal(), providers: providers(), options: options({ previewChars: 5 }) })
      expect((yield* worker.runOnce)[0]).toMatchObject({ sent: 1, pruned: 1 })
      expect(fcm.rejected).toEqual([])
      expect(fcm.grants.length).toBeGreaterThanOrEqual(1)
      expect(fcm.grants[0]).toEqual({
        iss: "push@chat-test-project.iam.gserviceaccount.com",
        aud: `${fcm.url}/token`,
        scope: "https://www.googleapis.com/auth/firebase.messaging"
      })
      const sent = fcm.received.items.find((n) => n.message.token === `fcm-ok-${t}`)!
      expect(sent.message.data).toEqual({ type: "message", room: r.id, sender: r.alice, seq: "1", count: "1", preview: "hello…" })
      expect(sent.message.android.collapse_key).toBe(r.id.replace(/-/g, ""))
      expect(yield* store.listDevices(cat!)).toEqual([])
      expect((yield* store.listDevices(bob!)).length).toBe(1)
    }))

  it.effect("push - no notification to a member looking at the room (room), on any socket (user); always with off; never to the sender", () =>
    Effect.gen(function* () {
      const store = makeMemoryStore()
      const presence = makeLocal()
      const bob = `bob-${tag()}` as UserId
      const r = yield* room(store, [bob])
      const device = `apns-look-${tag()}`
      yield* store.registerDevice(bob, device, "apns")
      yield* store.registerDevice(r.alice, `apns-sender-${tag()}`, "apns")
      const run = (suppress: PushWorkerOptions["suppress"]) =>
        Effect.gen(function* () {
          yield* r.say(`with ${suppress}`)
          const [report] = yield* makePushWorker({ store, presence, providers: providers(), options: options({ suppress }) }).runOnce
          return report!.sent
        })
      yield* presence.connected(bob)
      yield* presence.join(r.id, bob)
      expect(yield* run("room")).toBe(0)
      yield* presence.leave(r.id, bob)
      expect(yield* run("user")).toBe(0)
      expect(yield* run("room")).toBe(1)
      yield* presence.join(r.id, bob)
      expect(yield* run("off")).toBe(1)
      expect((yield* store.push.stats).depth).toBe(0)
    }))
})
