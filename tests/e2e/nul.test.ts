/**
 * PostgreSQL `text` (and `jsonb`) cannot hold U+0000: a statement with such a parameter fails
 * in the database. Every client string stored unencrypted is therefore refused at the edge
 * with `bad_request` (a token whose `sub` has one: `unauthorized`), and the room keeps working.
 */
import { Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../support/wsClient.ts"
import { freshDatabase } from "../support/freshDatabase.ts"
import { startInProcess, token } from "../support/node.ts"
import { makeApi, user, type Api } from "./chat.suite.ts"

const NUL = "\u0000"

describe("e2e (in-process, PostgreSQL) - NUL characters", () => {
  let api: Api
  beforeAll(async () => {
    api = makeApi(await startInProcess({ store: "postgres", postgresUrl: Option.some(Redacted.make(await freshDatabase())) }))
  }, 60_000)
  afterAll(async () => {
    await api?.node.close()
  })

  it("nul - a send whose clientMsgId has U+0000 gets bad_request, and the next send is acked and delivered", async () => {
    const [alice, bob] = [user("alice"), user("bob")]
    const room = await api.group(alice, [bob])
    const a = await api.client(alice)
    const b = await api.client(bob)
    await b.request({ type: "subscribe", room })

    // Twice: a retry of the bad frame must get the same clear answer, not a crashed room.
    for (let i = 0; i < 2; i++) {
      const bad = await a.request({ type: "send", room, clientMsgId: `a${NUL}b`, body: "hello" }, 20_000)
      expect(bad).toMatchObject({ type: "error", code: "bad_request" })
      expect(bad.message).toMatch(/clientMsgId/)
      expect(bad.message).toMatch(/NUL/)
    }

    const ack = await a.request({ type: "send", room, clientMsgId: "ok-1", body: "still here" })
    expect(ack).toMatchObject({ type: "ack", room, seq: 1 })
    const [event] = await b.events(room, 1)
    expect(event).toMatchObject({ kind: "message.created", seq: 1, data: { body: "still here", clientMsgId: "ok-1" } })
    const history = await a.request({ type: "history", room })
    expect(history.messages.map((m: any) => m.seq)).toEqual([1])
    // The socket stayed open throughout.
    expect((await a.request({ type: "ping" })).type).toBe("pong")
    a.close()
    b.close()
  })

  it("nul - a reaction whose emoji has U+0000 gets bad_request, and a normal reaction is acked", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    const a = await api.client(alice)
    await a.request({ type: "subscribe", room })
    expect((await a.request({ type: "send", room, clientMsgId: "m1", body: "react to me" })).seq).toBe(1)
    const bad = await a.request({ type: "react", room, seq: 1, emoji: `👍${NUL}` }, 20_000)
    expect(bad).toMatchObject({ type: "error", code: "bad_request" })
    expect(bad.message).toMatch(/emoji/)
    const ok = await a.request({ type: "react", room, seq: 1, emoji: "👍" })
    expect(ok).toMatchObject({ type: "ack", seq: 2 })
    const events = await a.events(room, 2)
    expect(events.map((e) => e.kind)).toEqual(["message.created", "reaction.added"])
    a.close()
  })

  it("nul - REST refuses U+0000 in room names, member ids, clientMsgIds and device tokens with 400", async () => {
    const alice = user("alice")
    const badRequest = { error: { code: "bad_request" } }

    const group = await api.rest(alice, "POST", "/v1/rooms", { kind: "group", name: `team${NUL}`, members: [] })
    expect(group.status).toBe(400)
    expect(group.json).toMatchObject(badRequest)
    expect(group.json.error.message).toMatch(/name/)

    const badMember = await api.rest(alice, "POST", "/v1/rooms", { kind: "group", name: "team", members: [`bob${NUL}`] })
    expect(badMember.status).toBe(400)
    expect(badMember.json).toMatchObject(badRequest)

    const direct = await api.rest(alice, "POST", "/v1/rooms", { kind: "direct", with: `bob${NUL}` })
    expect(direct.status).toBe(400)
    expect(direct.json).toMatchObject(badRequest)

    // Nothing was half-created: the caller has no rooms yet.
    expect((await api.rest(alice, "GET", "/v1/rooms")).json.rooms).toEqual([])

    const room = await api.group(alice, [])
    const rename = await api.rest(alice, "PATCH", `/v1/rooms/${room}`, { name: `x${NUL}y` })
    expect(rename.status).toBe(400)
    expect(rename.json).toMatchObject(badRequest)

    const add = await api.rest(alice, "POST", `/v1/rooms/${room}/members`, { users: [`carol${NUL}`] })
    expect(add.status).toBe(400)
    expect(add.json).toMatchObject(badRequest)

    const post = await api.rest(alice, "POST", `/v1/rooms/${room}/messages`, { body: "hi", clientMsgId: `${NUL}` })
    expect(post.status).toBe(400)
    expect(post.json).toMatchObject(badRequest)

    const device = await api.rest(alice, "POST", "/v1/devices", { token: `tok${NUL}en`, platform: "fcm" })
    expect(device.status).toBe(400)
    expect(device.json).toMatchObject(badRequest)

    // The room still takes writes and renames.
    expect((await api.rest(alice, "POST", `/v1/rooms/${room}/messages`, { body: "hi", clientMsgId: "c1" })).status).toBe(201)
    expect((await api.rest(alice, "PATCH", `/v1/rooms/${room}`, { name: "renamed" })).status).toBe(200)
    expect((await api.rest(alice, "GET", `/v1/rooms/${room}`)).json).toMatchObject({ name: "renamed", lastSeq: 2 })
    expect((await api.rest(alice, "POST", "/v1/devices", { token: "token-1", platform: "fcm" })).status).toBeLessThan(300)

    // Path and query values reach SQL too: a NUL device token is no device, a forged cursor is bad input.
    const unregister = await api.rest(alice, "DELETE", `/v1/devices/${encodeURIComponent(`tok${NUL}en`)}`)
    expect(unregister.status).toBe(404)
    expect(unregister.json).toMatchObject({ error: { code: "not_found" } })
    const forged = Buffer.from(JSON.stringify([0, "2026-11-28T07:00:00.000Z", `x${NUL}`])).toString("base64url")
    const list = await api.rest(alice, "GET", `/v1/rooms?cursor=${forged}`)
    expect(list.status).toBe(400)
    expect(list.json).toMatchObject(badRequest)
    expect((await api.rest(alice, "DELETE", "/v1/devices/token-1")).status).toBeLessThan(300)
  })

  it("nul - a token whose sub has U+0000 is refused with 401 on REST and before the WebSocket upgrade", async () => {
    const jwt = await token(`eve${NUL}`)
    const res = await fetch(`${api.node.url}/v1/rooms`, { headers: { authorization: `Bearer ${jwt}` } })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: { code: "unauthorized" } })
    await expect(connect(api.node.wsUrl, jwt)).rejects.toMatchObject({ status: 401 })
  })
})
