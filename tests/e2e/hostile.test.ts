/**
 * Input one user can send to hurt a node, over a real socket and real HTTP against
 * PostgreSQL: ill-formed UTF-16, frames named after Object.prototype members, values
 * nested thousands deep, cursors PostgreSQL cannot read. Each gets `bad_request` (or 401),
 * and the socket, the room and the node keep working.
 */
import { Option, Redacted } from "effect"
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../support/wsClient.ts"
import { freshDatabase } from "../support/freshDatabase.ts"
import { startInProcess, token } from "../support/node.ts"
import { makeApi, user, type Api } from "./chat.suite.ts"

const LONE = "\ud800"
const deep = (n: number) => "[".repeat(n) + "]".repeat(n)

describe("e2e (in-process, PostgreSQL) - hostile input", () => {
  let api: Api
  let dbUrl: string
  beforeAll(async () => {
    dbUrl = await freshDatabase()
    api = makeApi(
      await startInProcess({ store: "postgres", typingIntervalMs: 60_000, maxSocketsPerUser: 3, postgresUrl: Option.some(Redacted.make(dbUrl)) })
    )
  }, 60_000)
  afterAll(async () => {
    await api?.node.close()
  })

  it("encryption - two messages' bodies swapped in PostgreSQL fail to decrypt instead of showing alice's text under bob's name", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const room = await api.group(alice, [bob])
    expect((await api.rest(alice, "POST", `/v1/rooms/${room}/messages`, { body: "alice: transfer approved", clientMsgId: "a1" })).status).toBe(201)
    expect((await api.rest(bob, "POST", `/v1/rooms/${room}/messages`, { body: "bob: hello", clientMsgId: "b1" })).status).toBe(201)
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
    try {
      const rows = await sql`SELECT seq, body FROM messages WHERE room_id = ${room} ORDER BY seq`
      expect(rows.map((r) => String(r.body).slice(0, 3))).toEqual(["v2.", "v2."])
      await sql`UPDATE messages SET body = CASE seq WHEN 1 THEN ${rows[1]!.body} ELSE ${rows[0]!.body} END WHERE room_id = ${room}`
    } finally {
      await sql.end()
    }
    const history = await api.rest(bob, "GET", `/v1/rooms/${room}/messages`)
    expect(history.status).toBe(500)
    expect(JSON.stringify(history.json)).not.toContain("transfer approved")
    const list = await api.rest(bob, "GET", "/v1/rooms")
    expect(JSON.stringify(list.json)).not.toContain("transfer approved")
  })

  it("utf16 - a send whose clientMsgId, body or emoji has an unpaired surrogate gets bad_request, twice, and the room keeps working", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const room = await api.group(alice, [bob])
    const a = await api.client(alice)
    const b = await api.client(bob)
    await b.request({ type: "subscribe", room })
    for (let i = 0; i < 2; i++) {
      const bad = await a.request({ type: "send", room, clientMsgId: `k${LONE}`, body: "hello" })
      expect(bad).toMatchObject({ type: "error", code: "bad_request", message: "clientMsgId: must be well-formed Unicode (no unpaired surrogate)" })
    }
    expect(await a.request({ type: "send", room, clientMsgId: "k2", body: `x${LONE}` })).toMatchObject({ code: "bad_request", message: expect.stringMatching(/^body: /) })
    expect(await a.request({ type: "send", room, clientMsgId: "k3", body: "ok" })).toMatchObject({ type: "ack", seq: 1 })
    expect(await a.request({ type: "react", room, seq: 1, emoji: `\udc4d` })).toMatchObject({ code: "bad_request", message: expect.stringMatching(/^emoji: /) })
    // A valid pair (an astral emoji) is well-formed.
    expect(await a.request({ type: "react", room, seq: 1, emoji: "👍" })).toMatchObject({ type: "ack", seq: 2 })
    expect((await b.events(room, 2)).map((e) => e.kind)).toEqual(["message.created", "reaction.added"])
    a.close()
    b.close()
  })

  it("utf16 - REST refuses unpaired surrogates in names, members, bodies, clientMsgIds, and device tokens with 400", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    const cases: Array<[string, string, unknown]> = [
      ["POST", "/v1/rooms", { kind: "group", name: `team${LONE}` }],
      ["POST", "/v1/rooms", { kind: "group", name: "team", members: [`vic${LONE}`] }],
      ["POST", "/v1/rooms", { kind: "direct", with: `vic${LONE}` }],
      ["PATCH", `/v1/rooms/${room}`, { name: `x${LONE}` }],
      ["POST", `/v1/rooms/${room}/members`, { users: [`vic${LONE}`] }],
      ["POST", `/v1/rooms/${room}/messages`, { body: "hi", clientMsgId: `c${LONE}` }],
      ["POST", `/v1/rooms/${room}/messages`, { body: `hi${LONE}`, clientMsgId: "c1" }],
      ["POST", "/v1/devices", { token: `t${LONE}`, platform: "fcm" }]
    ]
    for (const [method, path, body] of cases) {
      const res = await api.rest(alice, method, path, body)
      expect({ method, path, status: res.status, code: res.json?.error?.code }).toEqual({ method, path, status: 400, code: "bad_request" })
    }
    expect((await api.rest(alice, "GET", `/v1/rooms/${room}`)).json).toMatchObject({ lastSeq: 0, members: [{ user: alice }] })
  })

  it("utf16 - a token whose sub has an unpaired surrogate is refused with 401", async () => {
    const jwt = await token(`vic${LONE}`)
    const res = await fetch(`${api.node.url}/v1/rooms`, { headers: { authorization: `Bearer ${jwt}` } })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: { code: "unauthorized", message: "token sub must be well-formed Unicode (no unpaired surrogate)" } })
    await expect(connect(api.node.wsUrl, jwt)).rejects.toMatchObject({ status: 401 })
  })

  it("frames - a type named after an Object.prototype member gets bad_request and the socket keeps working", async () => {
    const a = await api.client(user("alice"))
    for (const type of ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"]) {
      const reply = await a.request({ type })
      expect(reply).toMatchObject({ type: "error", code: "bad_request", message: `unknown frame type: ${type}` })
    }
    expect((await a.request({ type: "ping" })).type).toBe("pong")
    a.close()
  })

  it("frames - a value nested thousands of levels deep gets bad_request and the socket keeps working", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    const a = await api.client(alice)
    a.sendRaw(`{"type":"send","id":"deep","room":"${room}","clientMsgId":${deep(5000)},"body":"x"}`)
    const reply = await a.waitFor((f) => f.type === "error")
    expect(reply).toMatchObject({ code: "bad_request", message: "JSON nested deeper than 32 levels" })
    expect(await a.request({ type: "send", room, clientMsgId: "after", body: "x" })).toMatchObject({ type: "ack", seq: 1 })
    a.close()
  })

  it("rest - a body nested thousands of levels deep answers 400, not 500", async () => {
    const alice = user("alice")
    const res = await api.rest(alice, "POST", "/v1/rooms", `{"kind":"group","name":${deep(10_000)}}`)
    expect(res.status).toBe(400)
    expect(res.json).toMatchObject({ error: { code: "bad_request" } })
    expect((await api.rest(alice, "POST", "/v1/rooms", { kind: "group", name: "fine" })).status).toBe(201)
  })

  it("rest - a room-list cursor dated in a year PostgreSQL cannot store answers 400, not 503", async () => {
    const alice = user("alice")
    const id = "0190f3a0-1111-7222-8333-444455556666"
    for (const at of ["-000001-01-01T00:00:00.000Z", "+275760-09-13T00:00:00.000Z"]) {
      const cursor = Buffer.from(JSON.stringify([0, at, id])).toString("base64url")
      const res = await api.rest(alice, "GET", `/v1/rooms?cursor=${cursor}`)
      expect(res.status).toBe(400)
      expect(res.json).toMatchObject({ error: { code: "bad_request", message: "cursor is not valid" } })
    }
  })

  it("validation - a bad query field is named once, in words", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    for (const path of ["/v1/rooms?limit=500", `/v1/rooms/${room}/messages?limit=500`]) {
      const res = await api.rest(alice, "GET", path)
      expect(res.status).toBe(400)
      expect(res.json.error.message).toBe("limit: must be between 1 and 200")
    }
    expect((await api.rest(alice, "GET", "/v1/rooms?limit=abc")).json.error.message).toBe("limit: must be an integer")
    const a = await api.client(alice)
    expect(await a.request({ type: "history", room, limit: 500 })).toMatchObject({ message: "limit: must be between 1 and 200" })
    a.close()
  })

  it("typing - a flood of typing frames reaches the other member once per interval", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const room = await api.group(alice, [bob])
    const a = await api.client(alice)
    const b = await api.client(bob)
    await a.request({ type: "subscribe", room })
    await b.request({ type: "subscribe", room })
    // Fewer than the socket's inbox (256 frames in flight) holds.
    for (let i = 0; i < 200; i++) a.send({ type: "typing", room })
    // Relayed on the same bus before the message: once bob has the message, he has every typing relayed.
    await a.request({ type: "send", room, clientMsgId: "marker", body: "done typing" })
    await b.events(room, 1)
    expect(b.frames.filter((f) => f.type === "typing" && f.user === alice).length).toBe(1)
    a.close()
    b.close()
  })

  it("sockets - a user's socket over the per-node cap is refused with 429 before the upgrade; a closed one frees its place", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const jwt = await token(alice)
    const open = [await connect(api.node.wsUrl, jwt), await connect(api.node.wsUrl, jwt), await connect(api.node.wsUrl, jwt)]
    await expect(connect(api.node.wsUrl, jwt)).rejects.toMatchObject({ status: 429 })
    const res = await fetch(`${api.node.url}/v1/ws`, { headers: { authorization: `Bearer ${jwt}` } })
    expect(res.status).toBe(429)
    expect(await res.json()).toMatchObject({ error: { code: "rate_limited", message: "too many open connections for this user (at most 3)" } })
    // Other users are not affected.
    const b = await api.client(bob)
    expect((await b.request({ type: "ping" })).type).toBe("pong")
    // The open sockets still work; once one has closed (server side too), a new one is accepted.
    expect((await open[0]!.request({ type: "ping" })).type).toBe("pong")
    open[0]!.close()
    await open[0]!.closed
    const again = await until(() => connect(api.node.wsUrl, jwt))
    expect((await again.request({ type: "ping" })).type).toBe("pong")
    for (const c of [...open, again, b]) c.close()
  })
})

/** Retries `attempt` until it resolves: the server releases a closed socket's place just after the client sees the close. */
const until = async <A>(attempt: () => Promise<A>, timeoutMs = 10_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await attempt()
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}
