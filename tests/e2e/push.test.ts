/**
 * Push end to end: real nodes, real clients, the push worker inside the node (PGlite) or as
 * `chat push-worker` child processes (PostgreSQL), against the local provider endpoints of
 * tests/support/pushEndpoints.ts.
 */
import { Effect, Option, Redacted } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { generateVapidKeys } from "../../src/push/providers/webPush.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import { freshDatabase } from "../support/freshDatabase.ts"
import { startInProcess, tempDir, TEST_MASTER_KEY, TEST_SECRET } from "../support/node.ts"
import { startPushWorker } from "../support/pushWorker.ts"
import { type ApnsServer, startApnsServer, startWebPushEndpoint, type WebPushEndpoint } from "../support/pushEndpoints.ts"
import { makeApi, user } from "./chat.suite.ts"

/** The queue is empty: every intent committed so far has been handled (sent, skipped or pruned). */
const queueDrained = async (store: ChatStore, timeoutMs = 30_000) => {
  const until = Date.now() + timeoutMs
  // The worker reports nothing to a test when it decides not to notify: the queue is the signal.
  while ((await Effect.runPromise(store.push.stats)).depth > 0) {
    if (Date.now() > until) throw new Error("push queue not drained")
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe("e2e - push (in-process node, PGlite, worker in the node)", () => {
  let apns: ApnsServer
  let web: WebPushEndpoint
  let vapidPublicKey = ""
  let api: ReturnType<typeof makeApi>

  beforeAll(async () => {
    apns = await startApnsServer()
    web = await startWebPushEndpoint(() => vapidPublicKey)
    const dir = tempDir()
    const keyFile = join(dir, "AuthKey.p8")
    writeFileSync(keyFile, apns.keyPem, { mode: 0o600 })
    api = makeApi(
      await startInProcess({
        // Generous: the five sends must fall in one window even on a loaded machine.
        pushSettleMs: 3000,
        pushPollMs: 50,
        apnsKeyFile: Option.some(keyFile),
        apnsKeyId: Option.some(apns.keyId),
        apnsTeamId: Option.some(apns.teamId),
        apnsTopic: Option.some(apns.topic),
        apnsUrl: apns.url
      })
    )
    // Embedded mode: the VAPID pair was generated into the data dir; the app reads the public key here.
    const res = await fetch(`${api.node.url}/v1/push/vapid-public-key`)
    vapidPublicKey = ((await res.json()) as { publicKey: string }).publicKey
    expect(vapidPublicKey).toMatch(/^[A-Za-z0-9_-]{87}$/)
  }, 60_000)
  afterAll(async () => {
    await api?.node.close()
    await Promise.all([apns?.close(), web?.close()])
  })

  it("push - bob offline: 5 messages in a second give each of his two devices one notification with count 5; online and subscribed: none", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const room = await api.group(alice, [bob])
    const browser = `browser-${bob}`
    const phone = `phone${bob.replace(/[^a-z0-9]/g, "")}`
    expect((await api.rest(bob, "POST", "/v1/devices", { token: web.subscription(browser), platform: "webpush" })).status).toBe(204)
    expect((await api.rest(bob, "POST", "/v1/devices", { token: phone, platform: "apns" })).status).toBe(204)
    const a = await api.client(alice)
    // Alice watches the room: she sees bob's presence come and go.
    await a.request({ type: "subscribe", room })
    for (let i = 1; i <= 5; i++) {
      expect((await a.request({ type: "send", room, clientMsgId: `b${i}`, body: `burst ${i}` })).type).toBe("ack")
    }
    await web.received.until((xs) => xs.some((x) => x.device === browser))
    await apns.received.until((xs) => xs.some((x) => x.token === phone))
    const store = api.node.node!.store
    await queueDrained(store)
    const toBrowser = web.received.items.filter((x) => x.device === browser)
    const toPhone = apns.received.items.filter((x) => x.token === phone)
    expect(toBrowser.length).toBe(1)
    expect(toPhone.length).toBe(1)
    expect(toBrowser[0]!.payload).toMatchObject({ room, sender: alice, seq: "5", count: "5" })
    expect(toPhone[0]!.payload).toMatchObject({ room, sender: alice, seq: "5", count: "5" })
    expect(JSON.stringify(toBrowser[0]!.payload) + JSON.stringify(toPhone[0]!.payload)).not.toContain("burst")

    // Bob opens the app and looks at the room: the next message is delivered live, not pushed.
    const b = await api.client(bob)
    await b.request({ type: "subscribe", room })
    await a.request({ type: "send", room, clientMsgId: "seen", body: "you are here" })
    await queueDrained(store)
    expect(web.received.items.filter((x) => x.device === browser).length).toBe(1)
    expect(apns.received.items.filter((x) => x.token === phone).length).toBe(1)

    // He leaves: the next one is pushed, alone (seq 7, count 1): the one he saw was never counted.
    const left = a.frames.length
    b.close()
    await a.waitFor((f) => f.type === "presence" && f.user === bob && f.online === false, 10_000, left)
    await queueDrained(store)
    await a.request({ type: "send", room, clientMsgId: "gone", body: "where are you" })
    await web.received.until((xs) => xs.filter((x) => x.device === browser).length === 2)
    expect(web.received.items.filter((x) => x.device === browser)[1]!.payload).toMatchObject({ seq: "7", count: "1" })
    a.close()
  }, 90_000)
})

describe("e2e - push (PostgreSQL, chat push-worker killed -9 mid-delivery)", () => {
  const vapid = generateVapidKeys()
  let web: WebPushEndpoint
  let releaseHeld: () => void = () => {}
  let holding = true
  let held = 0
  let onHeld: () => void = () => {}
  let api: ReturnType<typeof makeApi>
  let env: Record<string, string>

  beforeAll(async () => {
    web = await startWebPushEndpoint(
      () => vapid.publicKey,
      // While `holding`: the first request of the run is answered, every later one waits.
      async () => {
        if (!holding) return
        held++
        onHeld()
        if (held === 1) return
        await new Promise<void>((r) => {
          const prev = releaseHeld
          releaseHeld = () => {
            prev()
            r()
          }
        })
      }
    )
    const url = await freshDatabase()
    env = {
      CHAT_STORE: "postgres",
      CHAT_POSTGRES_URL: url,
      CHAT_MASTER_KEY: TEST_MASTER_KEY,
      CHAT_JWT_SECRET: TEST_SECRET,
      CHAT_VAPID_PUBLIC_KEY: vapid.publicKey,
      CHAT_VAPID_PRIVATE_KEY: vapid.privateKey,
      CHAT_PUSH_SETTLE_MS: "0",
      CHAT_PUSH_POLL_MS: "50",
      CHAT_PUSH_LEASE_MS: "1000",
      CHAT_DATA_DIR: tempDir()
    }
    api = makeApi(
      await startInProcess({
        store: "postgres",
        postgresUrl: Option.some(Redacted.make(url)),
        pushWorker: "external",
        vapidPublicKey: Option.some(vapid.publicKey),
        vapidPrivateKey: Option.some(Redacted.make(vapid.privateKey))
      })
    )
  }, 60_000)
  afterAll(async () => {
    releaseHeld()
    await api?.node.close()
    await web?.close()
  })

  const startWorker = () => startPushWorker(env)

  it("push - the worker killed -9 mid-delivery and restarted: every device notified, none twice beyond the collapse window", async () => {
    const alice = user("alice")
    const bobs = Array.from({ length: 6 }, (_, i) => user(`bob${i}`))
    const devices = bobs.map((b) => `dev-${b}`)
    const rooms: Array<string> = []
    for (const [i, bob] of bobs.entries()) {
      rooms.push(await api.group(alice, [bob]))
      expect((await api.rest(bob, "POST", "/v1/devices", { token: web.subscription(devices[i]!), platform: "webpush" })).status).toBe(204)
    }
    const a = await api.client(alice)
    for (const room of rooms) await a.request({ type: "send", room, clientMsgId: "k", body: "ping" })

    const first = startWorker()
    // Killed once one notification went out and at least one more is in flight.
    await new Promise<void>((r) => {
      onHeld = () => {
        if (held >= 2) r()
      }
      onHeld()
    })
    await first.stop("SIGKILL")
    holding = false
    releaseHeld()

    const second = startWorker()
    try {
      await web.received.until((xs) => devices.every((d) => xs.some((x) => x.device === d)), 60_000)
      await queueDrained(api.node.node!.store, 60_000)
      for (const [i, d] of devices.entries()) {
        const got = web.received.items.filter((x) => x.device === d)
        // At most one repeat: a send that completed as the worker died, before it was recorded.
        // It is the same notification (same seq and collapse topic): the browser replaces it.
        expect(got.length).toBeGreaterThanOrEqual(1)
        expect(got.length).toBeLessThanOrEqual(2)
        for (const n of got) expect(n.payload).toMatchObject({ room: rooms[i], seq: "1", count: "1" })
        expect(new Set(got.map((n) => n.topic)).size).toBe(1)
      }
    } finally {
      await second.stop()
      a.close()
    }
  }, 120_000)
})
