/**
 * The end-to-end suite over real WebSockets and HTTP, run against a node started by
 * `start` (in-process on PGlite, in-process on PostgreSQL, or a child process).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type Frame, type TestClient } from "../support/wsClient.ts"
import type { TestNode } from "../support/node.ts"

export interface Api {
  readonly node: TestNode
  readonly rest: (user: string, method: string, path: string, body?: unknown) => Promise<{ status: number; json: any; headers: Headers }>
  readonly client: (user: string) => Promise<TestClient>
  readonly group: (owner: string, members: string[], name?: string) => Promise<string>
}

export const makeApi = (node: TestNode): Api => {
  const tokens = new Map<string, string>()
  const tokenOf = async (user: string) => {
    let t = tokens.get(user)
    if (t === undefined) tokens.set(user, (t = await node.token(user)))
    return t
  }
  const rest: Api["rest"] = async (user, method, path, body) => {
    const res = await fetch(node.url + path, {
      method,
      headers: { authorization: `Bearer ${await tokenOf(user)}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
    })
    const text = await res.text()
    return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers }
  }
  return {
    node,
    rest,
    client: async (user) => connect(node.wsUrl, await tokenOf(user)),
    group: async (owner, members, name = "room") => {
      const r = await rest(owner, "POST", "/v1/rooms", { kind: "group", name, members })
      if (r.status !== 201) throw new Error(`create room: ${r.status} ${JSON.stringify(r.json)}`)
      return r.json.id as string
    }
  }
}

let uniq = 0
export const user = (name: string) => `${name}-${process.pid}-${++uniq}`

const seqsOf = (frames: Frame[]) => frames.map((f) => f.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

export const chatSuite = (label: string, start: () => Promise<TestNode>) =>
  describe(`e2e (${label})`, () => {
    let api: Api
    beforeAll(async () => {
      api = makeApi(await start())
    }, 60_000)
    afterAll(async () => {
      await api?.node.close()
    })

    it("two users chat: a message is acked to its sender and delivered to both", async () => {
      const [alice, bob] = [user("alice"), user("bob")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      const b = await api.client(bob)
      expect((await a.request({ type: "subscribe", room })).type).toBe("subscribed")
      expect((await b.request({ type: "subscribe", room })).seq).toBe(0)
      const ack = await a.request({ type: "send", room, clientMsgId: "c1", body: "hello bob" })
      expect(ack).toMatchObject({ type: "ack", room, seq: 1 })
      expect(ack.messageId).toMatch(/^[0-9a-f-]{36}$/)
      const [event] = await b.events(room, 1)
      expect(event).toMatchObject({ kind: "message.created", seq: 1, actor: alice, data: { body: "hello bob", sender: alice } })
      const reply = await b.request({ type: "send", room, clientMsgId: "c1", body: "hi alice", replyTo: 1 })
      expect(reply.seq).toBe(2)
      const aliceEvents = await a.events(room, 2)
      expect(aliceEvents[1].data).toMatchObject({ body: "hi alice", replyTo: 1 })
      a.close()
      b.close()
    })

    it("an idempotent resend returns the first ack and stores nothing new", async () => {
      const alice = user("alice")
      const room = await api.group(alice, [])
      const a = await api.client(alice)
      const first = await a.request({ type: "send", room, clientMsgId: "same", body: "once" })
      const second = await a.request({ type: "send", room, clientMsgId: "same", body: "once" })
      expect(second).toMatchObject({ seq: first.seq, messageId: first.messageId, ts: first.ts })
      const history = await a.request({ type: "history", room })
      expect(history.messages).toHaveLength(1)
      a.close()
    })

    it("resume with since after a disconnect, while others keep sending, loses and duplicates nothing", async () => {
      const [alice, bob] = [user("alice"), user("bob")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      let b = await api.client(bob)
      await b.request({ type: "subscribe", room })
      for (let i = 1; i <= 5; i++) await a.request({ type: "send", room, clientMsgId: `m${i}`, body: `m${i}` })
      const seen = await b.events(room, 5)
      const last = seen[seen.length - 1].seq
      b.close()
      await b.closed

      // Alice keeps sending while bob is away and while he resubscribes.
      const sending = (async () => {
        for (let i = 6; i <= 40; i++) await a.request({ type: "send", room, clientMsgId: `m${i}`, body: `m${i}` })
      })()
      await a.waitFor((f) => f.type === "ack" && f.seq >= 15)
      b = await api.client(bob)
      const subscribed = await b.request({ type: "subscribe", room, since: last })
      expect(subscribed.seq).toBeGreaterThanOrEqual(15)
      await sending
      const events = await b.events(room, 35)
      expect(seqsOf(events)).toEqual(range(6, 40))
      // The replayed events come after `subscribed`, never before.
      expect(b.frames.findIndex((f) => f.type === "subscribed")).toBeLessThan(b.frames.findIndex((f) => f.type === "event"))
      a.close()
      b.close()
    })

    it("subscribe with since beyond the replay cap answers truncated and the client pages with history", async () => {
      const alice = user("alice")
      const room = await api.group(alice, [])
      const a = await api.client(alice)
      for (let i = 1; i <= 3; i++) await a.request({ type: "send", room, clientMsgId: `t${i}`, body: `t${i}` })
      const b = await api.client(alice)
      // The test nodes run with CHAT_REPLAY_CAP left at its default; since=0 is within it here,
      // so use the history path to check paging instead.
      const sub = await b.request({ type: "subscribe", room, since: 0 })
      expect(sub.truncated).toBeUndefined()
      expect(seqsOf(await b.events(room, 3))).toEqual([1, 2, 3])
      const page1 = await b.request({ type: "history", room, limit: 2 })
      expect(page1.messages.map((m: any) => m.seq)).toEqual([3, 2])
      expect(page1.hasMore).toBe(true)
      const page2 = await b.request({ type: "history", room, limit: 2, before: 2 })
      expect(page2.messages.map((m: any) => m.seq)).toEqual([1])
      expect(page2.hasMore).toBe(false)
      a.close()
      b.close()
    })

    it("a non-member cannot subscribe, read history or send, and REST answers 404", async () => {
      const [alice, mallory] = [user("alice"), user("mallory")]
      const room = await api.group(alice, [])
      const m = await api.client(mallory)
      for (const frame of [
        { type: "subscribe", room },
        { type: "history", room },
        { type: "send", room, clientMsgId: "x", body: "let me in" },
        { type: "read", room, seq: 0 }
      ]) {
        const reply = await m.request(frame)
        expect(reply).toMatchObject({ type: "error", code: "not_found" })
      }
      expect((await api.rest(mallory, "GET", `/v1/rooms/${room}`)).status).toBe(404)
      expect((await api.rest(mallory, "GET", `/v1/rooms/${room}/messages`)).status).toBe(404)
      expect((await api.rest(mallory, "POST", `/v1/rooms/${room}/messages`, { body: "x", clientMsgId: "y" })).status).toBe(404)
      // A room that does not exist looks the same as one the caller cannot see.
      const missing = "0190d6a4-0000-7000-8000-000000000000"
      expect((await api.rest(mallory, "GET", `/v1/rooms/${missing}`)).json).toEqual(
        (await api.rest(mallory, "GET", `/v1/rooms/${room}`)).json
      )
      m.close()
    })

    it("edits, deletes, reactions and reads reach other members as events and frames", async () => {
      const [alice, bob] = [user("alice"), user("bob")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      const b = await api.client(bob)
      await a.request({ type: "subscribe", room })
      await b.request({ type: "subscribe", room })
      await a.request({ type: "send", room, clientMsgId: "e1", body: "typo" })
      expect((await a.request({ type: "edit", room, seq: 1, body: "fixed" })).seq).toBe(2)
      expect((await b.request({ type: "react", room, seq: 1, emoji: "👍" })).seq).toBe(3)
      expect((await b.request({ type: "edit", room, seq: 1, body: "not mine" })).code).toBe("forbidden")
      expect((await a.request({ type: "delete", room, seq: 1 })).seq).toBe(4)
      expect((await a.request({ type: "edit", room, seq: 1, body: "too late" })).code).toBe("conflict")
      const events = await b.events(room, 4)
      expect(events.map((e) => e.kind)).toEqual(["message.created", "message.edited", "reaction.added", "message.deleted"])
      expect(events[3].data).toMatchObject({ deleted: true, body: "" })
      const history = await b.request({ type: "history", room })
      expect(history.messages[0]).toMatchObject({ seq: 1, deleted: true, body: "" })

      b.send({ type: "typing", room })
      expect(await a.waitFor((f) => f.type === "typing")).toMatchObject({ room, user: bob })
      const readAck = await b.request({ type: "read", room, seq: 4 })
      // The only message is deleted: the read marks nothing.
      expect(readAck).toMatchObject({ type: "ack", seq: 4, marked: 0 })
      expect(await a.waitFor((f) => f.type === "read")).toMatchObject({ room, user: bob, seq: 4 })
      a.close()
      b.close()
    })

    it("REST: rooms, members, pins, unread counts, history and devices", async () => {
      const [alice, bob, carol] = [user("alice"), user("bob"), user("carol")]
      const direct1 = await api.rest(alice, "POST", "/v1/rooms", { kind: "direct", with: bob })
      expect(direct1.status).toBe(201)
      const direct2 = await api.rest(bob, "POST", "/v1/rooms", { kind: "direct", with: alice })
      expect(direct2.status).toBe(200)
      expect(direct2.json.id).toBe(direct1.json.id)
      const group = await api.group(alice, [bob], "team")
      const sent = await api.rest(alice, "POST", `/v1/rooms/${group}/messages`, { body: "one", clientMsgId: "r1" })
      expect(sent.status).toBe(201)
      expect(sent.json).toMatchObject({ seq: 1 })
      await api.rest(alice, "POST", `/v1/rooms/${group}/messages`, { body: "two", clientMsgId: "r2" })
      expect((await api.rest(bob, "PUT", `/v1/rooms/${direct1.json.id}/pin`)).status).toBe(204)
      const list = await api.rest(bob, "GET", "/v1/rooms")
      expect(list.status).toBe(200)
      expect(list.json.rooms.map((r: any) => r.id)).toEqual([direct1.json.id, group])
      expect(list.json.rooms[0].pinned).toBe(true)
      expect(list.json.rooms[1]).toMatchObject({ unread: 2, lastMessage: { seq: 2, body: "two", sender: alice } })
      expect((await api.rest(bob, "POST", `/v1/rooms/${group}/read`, { seq: 1 })).json).toMatchObject({ seq: 1, marked: 1 })
      expect((await api.rest(bob, "POST", `/v1/rooms/${group}/read`, { seq: 1 })).json).toMatchObject({ seq: 1, marked: 0 })
      expect((await api.rest(bob, "GET", "/v1/rooms")).json.rooms[1].unread).toBe(1)

      expect((await api.rest(bob, "PATCH", `/v1/rooms/${group}`, { name: "nope" })).status).toBe(403)
      const renamed = await api.rest(alice, "PATCH", `/v1/rooms/${group}`, { name: "renamed" })
      expect(renamed.json.name).toBe("renamed")
      const added = await api.rest(alice, "POST", `/v1/rooms/${group}/members`, { users: [carol] })
      expect(added.json.members).toContainEqual({ user: carol, role: "member" })
      expect((await api.rest(bob, "DELETE", `/v1/rooms/${group}/members/${carol}`)).status).toBe(403)
      expect((await api.rest(carol, "DELETE", `/v1/rooms/${group}/members/${carol}`)).status).toBe(204)
      expect((await api.rest(carol, "GET", `/v1/rooms/${group}`)).status).toBe(404)
      const page = await api.rest(alice, "GET", `/v1/rooms/${group}/messages?limit=1`)
      expect(page.json.messages.map((m: any) => m.body)).toEqual(["two"])
      expect(page.json.hasMore).toBe(true)

      expect((await api.rest(alice, "POST", "/v1/devices", { token: "device-token-1", platform: "fcm" })).status).toBe(204)
      expect((await api.rest(alice, "DELETE", "/v1/devices/device-token-1")).status).toBe(204)
      expect((await api.rest(alice, "DELETE", "/v1/devices/device-token-1")).status).toBe(404)
    })

    it("room list pages with a keyset cursor, with no duplicate and no missing room", async () => {
      const alice = user("alice")
      const ids: string[] = []
      for (let i = 0; i < 7; i++) ids.push(await api.group(alice, [], `r${i}`))
      const seen: string[] = []
      let cursor: string | undefined
      do {
        const r = await api.rest(alice, "GET", `/v1/rooms?limit=3${cursor ? `&cursor=${cursor}` : ""}`)
        expect(r.status).toBe(200)
        seen.push(...r.json.rooms.map((x: any) => x.id))
        cursor = r.json.nextCursor
      } while (cursor)
      expect(seen.sort()).toEqual([...ids].sort())
      expect((await api.rest(alice, "GET", "/v1/rooms?cursor=garbage")).status).toBe(400)
    })

    it("every protocol error code comes from a real bad input", async () => {
      const [alice, bob] = [user("alice"), user("bob")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      const b = await api.client(bob)
      a.sendRaw("{not json")
      expect(await a.waitFor((f) => f.type === "error")).toMatchObject({ code: "bad_request" })
      expect((await a.request({ type: "nope" })).code).toBe("bad_request")
      expect((await a.request({ type: "send", room: "not-a-uuid", clientMsgId: "x", body: "b" })).code).toBe("bad_request")
      expect((await a.request({ type: "history", room, limit: 500 })).code).toBe("bad_request")
      expect((await a.request({ type: "send", room, clientMsgId: "big", body: "x".repeat(17 * 1024) })).code).toBe("too_large")
      expect((await b.request({ type: "react", room, seq: 99, emoji: "x" })).code).toBe("not_found")
      await a.request({ type: "send", room, clientMsgId: "own", body: "mine" })
      expect((await b.request({ type: "delete", room, seq: 1 })).code).toBe("forbidden")
      await a.request({ type: "delete", room, seq: 1 })
      expect((await b.request({ type: "react", room, seq: 1, emoji: "x" })).code).toBe("conflict")
      const unauth = await fetch(`${api.node.url}/v1/rooms`)
      expect(unauth.status).toBe(401)
      expect((await unauth.json()).error.code).toBe("unauthorized")
      await expect(connect(api.node.wsUrl, "not.a.token")).rejects.toMatchObject({ status: 401 })
      await expect(connect(api.node.wsUrl)).rejects.toMatchObject({ status: 401 })
      const big = await api.rest(alice, "POST", `/v1/rooms/${room}/messages`, JSON.stringify({ body: "y".repeat(64 * 1024), clientMsgId: "z" }))
      expect(big.status).toBe(413)
      expect(big.json.error.code).toBe("too_large")
      // The connection survived every error above.
      expect((await a.request({ type: "ping" })).type).toBe("pong")
      a.close()
      b.close()
    })

    it("a flood of sends is rate limited with retryAfterMs, and REST answers 429 with Retry-After", async () => {
      const alice = user("alice")
      const room = await api.group(alice, [])
      const a = await api.client(alice)
      const replies = await Promise.all(
        Array.from({ length: 80 }, (_, i) => a.request({ type: "send", room, clientMsgId: `f${i}`, body: "flood" }))
      )
      const limited = replies.filter((r) => r.code === "rate_limited")
      expect(limited.length).toBeGreaterThan(0)
      expect(limited[0].retryAfterMs).toBeGreaterThan(0)
      const acked = replies.filter((r) => r.type === "ack").map((r) => r.seq)
      expect(acked).toEqual(range(1, acked.length))
      const bob = user("bob")
      const bobsRoom = await api.group(bob, [])
      const rest = await Promise.all(
        // Far past the burst (50) even if a loaded machine stretches the requests over seconds.
        Array.from({ length: 200 }, (_, i) => api.rest(bob, "POST", `/v1/rooms/${bobsRoom}/messages`, { body: "x", clientMsgId: `r${i}` }))
      )
      const refused = rest.filter((r) => r.status === 429)
      expect(refused.length).toBeGreaterThan(0)
      expect(Number(refused[0].headers.get("retry-after"))).toBeGreaterThan(0)
      expect(refused[0].json.error).toMatchObject({ code: "rate_limited" })
      a.close()
    })

    it("1,000 random malformed frames leave the server up and other clients unaffected", async () => {
      const [alice, bob, evil] = [user("alice"), user("bob"), user("evil")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      const b = await api.client(bob)
      await b.request({ type: "subscribe", room })
      const e = await api.client(evil)
      let seed = 42
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
      const junk = (): string | Buffer => {
        const kinds = [
          () => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))),
          () => "{".repeat(Math.floor(rnd() * 50)),
          () => JSON.stringify({ type: ["send", "subscribe", "edit", "react", "history", 7, null][Math.floor(rnd() * 7)], room: rnd() > 0.5 ? room : 12, seq: rnd() > 0.5 ? -1 : "x", body: rnd() > 0.5 ? {} : "b", since: -5, limit: 1e9, emoji: "" }),
          () => JSON.stringify([1, 2, 3]),
          () => "null",
          () => JSON.stringify({ type: "send", room, clientMsgId: "x".repeat(100), body: "b" }),
          () => String.fromCharCode(...Array.from({ length: 40 }, () => Math.floor(rnd() * 0xffff)))
        ]
        return kinds[Math.floor(rnd() * kinds.length)]()
      }
      // In bursts of 100, each closed by a ping: a client may pipeline, within the inbox bound.
      for (let burst = 0; burst < 10; burst++) {
        for (let i = 0; i < 100; i++) e.sendRaw(junk())
        expect((await e.request({ type: "ping" })).type).toBe("pong")
      }
      const errors = e.frames.filter((f) => f.type === "error")
      expect(errors.length).toBeGreaterThan(900)
      expect(errors.every((f) => typeof f.code === "string" && typeof f.message === "string")).toBe(true)
      const ack = await a.request({ type: "send", room, clientMsgId: "after-junk", body: "still here" })
      expect(ack.type).toBe("ack")
      expect((await b.events(room, 1))[0].data.body).toBe("still here")
      expect((await fetch(`${api.node.url}/healthz`)).status).toBe(200)
      a.close()
      b.close()
      e.close()
    })

    it("presence: first subscription and last departure are announced, and REST lists who is online", async () => {
      const [alice, bob] = [user("alice"), user("bob")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      await a.request({ type: "subscribe", room })
      const b1 = await api.client(bob)
      await b1.request({ type: "subscribe", room })
      expect(await a.waitFor((f) => f.type === "presence" && f.user === bob)).toMatchObject({ room, online: true })
      // A second socket of the same user is not a new arrival.
      const b2 = await api.client(bob)
      await b2.request({ type: "subscribe", room })
      const listed = await api.rest(alice, "GET", `/v1/rooms/${room}/presence`)
      expect([...listed.json.online].sort()).toEqual([alice, bob].sort())
      b1.close()
      await b1.closed
      b2.close()
      const gone = await a.waitFor((f) => f.type === "presence" && f.user === bob && f.online === false)
      expect(a.frames.filter((f) => f.type === "presence" && f.user === bob)).toHaveLength(2)
      expect(gone.room).toBe(room)
      a.close()
    })

    it("a member who leaves or is removed stops receiving the room's events at once", async () => {
      const [alice, bob] = [user("alice"), user("bob")]
      const room = await api.group(alice, [bob])
      const a = await api.client(alice)
      const b = await api.client(bob)
      // Room ids are UUIDs in any case; the server treats them as one canonical id.
      expect((await b.request({ type: "subscribe", room: room.toUpperCase() })).room).toBe(room)
      await a.request({ type: "send", room, clientMsgId: "before", body: "before" })
      expect((await api.rest(alice, "DELETE", `/v1/rooms/${room}/members/${bob}`)).status).toBe(204)
      const left = await b.waitFor((f) => f.type === "event" && f.kind === "member.left")
      expect(left.data).toMatchObject({ user: bob })
      expect(await b.waitFor((f) => f.type === "unsubscribed")).toMatchObject({ room, reason: "no longer a member" })
      await a.request({ type: "send", room, clientMsgId: "after", body: "after" })
      // A round trip on bob's socket after alice's ack: nothing of the room came in between.
      await b.request({ type: "ping" })
      expect(b.frames.filter((f) => f.type === "event").map((f) => f.kind)).toEqual(["message.created", "member.left"])
      expect((await b.request({ type: "subscribe", room })).code).toBe("not_found")
      a.close()
      b.close()
    })

    it("operations: /healthz, /readyz naming the store, /metrics with the documented series", async () => {
      expect((await fetch(`${api.node.url}/healthz`)).status).toBe(200)
      const ready = await fetch(`${api.node.url}/readyz`)
      expect(ready.status).toBe(200)
      const body = await ready.json()
      expect(Object.keys(body.checks).some((k) => k.startsWith("store:"))).toBe(true)
      const alice = user("alice")
      const room = await api.group(alice, [])
      const a = await api.client(alice)
      await a.request({ type: "send", room, clientMsgId: "metric", body: "count me" })
      const metrics = await (await fetch(`${api.node.url}/metrics`)).text()
      expect(metrics).toMatch(/^chat_messages_sent_total\{[^}]*room_type="group"[^}]*\} [1-9]/m)
      expect(metrics).toMatch(/^chat_query_duration_seconds_bucket\{[^}]*operation="save_message"/m)
      expect(metrics).toMatch(/^chat_active_connections\{client_type="websocket"\} [1-9]/m)
      expect(metrics).toMatch(/^chat_room_actors_active [1-9]/m)
      expect(metrics).toMatch(/^chat_room_actor_restarts_total /m)
      expect(metrics).not.toContain("count me")
      a.close()
    })

    it("a frame over the hard limit closes the socket with 1008", async () => {
      const alice = user("alice")
      const a = await api.client(alice)
      a.sendRaw(JSON.stringify({ type: "ping", pad: "p".repeat(70 * 1024) }))
      expect((await a.closed).code).toBe(1008)
    })
  })
