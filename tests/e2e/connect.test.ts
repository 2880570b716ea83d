/**
 * The Connect/gRPC API with generated clients (src/gen) against a node started as a child
 * process: Connect and gRPC-Web on the main port, gRPC on CHAT_GRPC_PORT.
 */
import { Code, ConnectError } from "@connectrpc/connect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EventKind, RoomKind } from "../../src/gen/chat/v1/chat_pb.ts"
import { RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.ts"
import { Platform } from "../../src/gen/tokens/v1/tokens_pb.ts"
import { ServerService } from "../../src/gen/chat/v1/server_pb.ts"
import { createClient } from "@connectrpc/connect"
import { transportFor } from "../support/connectClient.ts"
import { clientsFor, readStream, type Endpoints, type TransportKind } from "../support/connectClient.ts"
import { freshDatabase } from "../support/freshDatabase.ts"
import { startChild, token } from "../support/node.ts"
import { makeApi, user, type Api } from "./chat.suite.ts"

const SERVICE_KEY = "service-key-for-tests-0123456789abcdef"
let api: Api
let endpoints: Endpoints
let close: () => Promise<void>

beforeAll(async () => {
  const node = await startChild({
    CHAT_STORE: "postgres",
    CHAT_POSTGRES_URL: await freshDatabase(),
    CHAT_GRPC_PORT: "0",
    // Per user: enough for the resume test's 121 sends, few enough to hit in the rate test.
    CHAT_SEND_RATE: "10",
    CHAT_SEND_BURST: "150",
    CHAT_LOG_LEVEL: "info",
    CHAT_SERVICE_KEYS: `${SERVICE_KEY},another-service-key-0123456789abcdef`
  })
  const grpcPort = /"grpcPort":(\d+)/.exec(node.output())
  if (grpcPort === null) throw new Error(`no gRPC port in the log: ${node.output().slice(-1000)}`)
  endpoints = { url: node.url, grpcUrl: `http://127.0.0.1:${grpcPort[1]}` }
  api = makeApi(node)
  close = node.close
}, 90_000)

afterAll(() => close?.())

const clients = async (kind: TransportKind, name: string) => clientsFor(kind, endpoints, await token(name))

const codeOf = async (p: Promise<unknown>): Promise<Code | "ok"> => {
  try {
    await p
    return "ok"
  } catch (e) {
    return ConnectError.from(e).code
  }
}

describe.each<TransportKind>(["connect", "grpc-web", "grpc"])("connect API over %s", (kind) => {
  it(`${kind} - every ChatService and TokensService RPC does what its REST/WebSocket twin does`, async () => {
    const alice = user("alice")
    const bob = user("bob")
    const carol = user("carol")
    const a = await clients(kind, alice)
    const b = await clients(kind, bob)

    const created = await a.chat.createRoom({ kind: { case: "group", value: { name: "rpc room", members: [bob] } } })
    expect(created.created).toBe(true)
    const room = created.room!.id
    expect(created.room!.kind).toBe(RoomKind.GROUP)
    const direct = await a.chat.createRoom({ kind: { case: "direct", value: { withUser: carol } } })
    expect((await a.chat.createRoom({ kind: { case: "direct", value: { withUser: carol } } })).room!.id).toBe(direct.room!.id)

    const stream = readStream(b.chat, room)
    await stream.waitFor((items) => items[0]?.item.case === "subscribed")

    const sent = await a.chat.sendMessage({ room, clientMsgId: "m1", body: "hello" })
    expect(sent.ack!.seq).toBe(1n)
    // Idempotent: the same clientMsgId answers the first ack and stores nothing new.
    const again = await a.chat.sendMessage({ room, clientMsgId: "m1", body: "hello" })
    expect(again.ack).toEqual(sent.ack)
    const edited = await a.chat.editMessage({ room, seq: 1n, body: "hello, edited" })
    const reacted = await b.chat.reactToMessage({ room, seq: 1n, emoji: "👍" })
    await a.chat.sendMessage({ room, clientMsgId: "m2", body: "to delete" })
    const deleted = await a.chat.deleteMessage({ room, seq: 4n })
    expect([edited.ack!.seq, reacted.ack!.seq, deleted.ack!.seq]).toEqual([2n, 3n, 5n])

    await a.chat.sendTyping({ room })
    await stream.waitFor((items) => items.some((i) => i.item.case === "typing" && i.item.value.user === alice))
    await stream.waitFor(() => stream.seqs().length >= 5)
    expect(stream.seqs()).toEqual([1, 2, 3, 4, 5])
    const kinds = stream.items.flatMap((i) => (i.item.case === "event" ? [i.item.value.kind] : []))
    expect(kinds).toEqual([
      EventKind.MESSAGE_CREATED,
      EventKind.MESSAGE_EDITED,
      EventKind.REACTION_ADDED,
      EventKind.MESSAGE_CREATED,
      EventKind.MESSAGE_DELETED
    ])

    const history = await b.chat.getMessagesFromRoom({ room, limit: 10 })
    expect(history.messages.map((m) => [Number(m.seq), m.body, m.deleted])).toEqual([
      [4, "", true],
      [1, "hello, edited", false]
    ])
    expect(history.messages[1].reactions).toEqual([expect.objectContaining({ emoji: "👍", users: [bob] })])

    const read = await b.chat.markMessagesAsRead({ room, seq: 1000n })
    expect(read.seq).toBe(5n) // capped at the room's last seq
    // Marked: alice's messages 1 and 4, but 4 is deleted; the reaction (3) is bob's and no message.
    expect(read.marked).toBe(1n)
    expect((await b.chat.markMessagesAsRead({ room, seq: 5n })).marked).toBe(0n)
    await b.chat.setPinned({ room, pinned: true })
    const list = await b.chat.getRoomList({})
    const summary = list.rooms.find((r) => r.id === room)!
    expect([summary.pinned, summary.unread, summary.name]).toEqual([true, 0n, "rpc room"])
    expect((await a.chat.getPresence({ room })).online).toContain(bob)

    expect((await a.chat.renameRoom({ room, name: "renamed" })).room!.name).toBe("renamed")
    const added = await a.chat.addMembers({ room, users: [carol] })
    expect(added.room!.members.map((m) => m.user).sort()).toEqual([alice, bob, carol].sort())
    expect((await a.chat.getRoom({ room })).room!.lastSeq).toBe(7n)
    // LeaveRoom: the owner removes a participant; a member with no participants leaves.
    expect((await a.chat.leaveRoom({ room, participants: [carol] })).acks).toHaveLength(1)
    await b.chat.leaveRoom({ room })
    // Bob's stream ends with his own member.left: a former member sees nothing later.
    expect(await stream.ended).toBeUndefined()
    expect(stream.items.at(-1)!.item).toMatchObject({ case: "event", value: { kind: EventKind.MEMBER_LEFT } })
    expect(await codeOf(b.chat.getRoom({ room }))).toBe(Code.NotFound)

    // TokensService.
    await a.tokens.registerToken({ token: `tok-${kind}`, platform: Platform.FCM })
    expect((await a.tokens.listTokens({})).devices.map((d) => [d.token, d.platform])).toEqual([[`tok-${kind}`, Platform.FCM]])
    await a.tokens.unregisterToken({ token: `tok-${kind}` })
    expect(await codeOf(a.tokens.unregisterToken({ token: `tok-${kind}` }))).toBe(Code.NotFound)
    expect(await codeOf(a.tokens.registerToken({ token: "t", platform: Platform.UNSPECIFIED }))).toBe(Code.InvalidArgument)
  }, 60_000)

  it(`${kind} - no token, a bad token and an expired token are unauthenticated`, async () => {
    const none = clientsFor(kind, endpoints)
    const bad = clientsFor(kind, endpoints, "not-a-jwt")
    const expired = clientsFor(kind, endpoints, await token(user("late"), { expiresIn: -60 }))
    for (const c of [none, bad, expired]) {
      expect(await codeOf(c.chat.getRoomList({}))).toBe(Code.Unauthenticated)
      const s = readStream(c.chat, "00000000-0000-4000-8000-000000000000")
      expect(ConnectError.from(await s.ended).code).toBe(Code.Unauthenticated)
    }
  })

  it(`${kind} - a non-member gets not_found for the room, its history, sends and its stream`, async () => {
    const owner = user("owner")
    const room = await api.group(owner, [])
    const eve = await clients(kind, user("eve"))
    expect(await codeOf(eve.chat.getRoom({ room }))).toBe(Code.NotFound)
    expect(await codeOf(eve.chat.getMessagesFromRoom({ room }))).toBe(Code.NotFound)
    expect(await codeOf(eve.chat.sendMessage({ room, clientMsgId: "x", body: "hi" }))).toBe(Code.NotFound)
    expect(await codeOf(eve.chat.getRoom({ room: "not-a-uuid" }))).toBe(Code.NotFound)
    const s = readStream(eve.chat, room)
    expect(ConnectError.from(await s.ended).code).toBe(Code.NotFound)
    expect(s.items).toEqual([])
    // Bad input is invalid_argument, naming the field.
    const o = await clients(kind, owner)
    const err = ConnectError.from(await o.chat.sendMessage({ room, clientMsgId: "", body: "x" }).catch((e) => e))
    expect([err.code, err.rawMessage]).toEqual([Code.InvalidArgument, expect.stringContaining("clientMsgId")])
  })
})

describe("connect API - streams and WebSockets", () => {
  it("StreamMessages resumed with since loses and duplicates nothing while others send over WebSocket", async () => {
    const alice = user("alice")
    const bob = user("bob")
    const room = await api.group(alice, [bob])
    const ws = await api.client(alice)
    const b = await clients("connect", bob)
    const total = 120
    const sending = (async () => {
      for (let i = 1; i <= total; i++) {
        const ack = await ws.request({ type: "send", room, clientMsgId: `c${i}`, body: `m${i}` })
        if (ack.type !== "ack") throw new Error(JSON.stringify(ack))
      }
    })()
    const received: Array<number> = []
    let since = 0
    // Three streams one after the other, each stopped part-way, while the sends go on.
    for (const upTo of [20, 60, total]) {
      const s = readStream(b.chat, room, since)
      await s.waitFor(() => s.seqs().some((seq) => seq >= upTo), 60_000)
      s.stop()
      await s.ended
      received.push(...s.seqs())
      since = received.at(-1)!
    }
    await sending
    expect(received).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    ws.close()
  }, 90_000)

  it("a stream client and a WebSocket client in one room see the same events in the same order", async () => {
    const alice = user("alice")
    const bob = user("bob")
    const room = await api.group(alice, [bob])
    const wsBob = await api.client(bob)
    await wsBob.request({ type: "subscribe", room })
    const b = await clients("grpc", bob)
    const s = readStream(b.chat, room)
    await s.waitFor((items) => items.length > 0)
    const a = await clients("grpc-web", alice)
    const wsAlice = await api.client(alice)
    // Writes over both surfaces, interleaved and concurrent.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? a.chat.sendMessage({ room, clientMsgId: `g${i}`, body: `rpc ${i}` })
          : wsAlice.request({ type: "send", room, clientMsgId: `w${i}`, body: `ws ${i}` })
      )
    )
    await a.chat.reactToMessage({ room, seq: 1n, emoji: "🎉" })
    const wsEvents = await wsBob.events(room, 21)
    await s.waitFor(() => s.seqs().length >= 21)
    const fromStream = s.items.flatMap((i) =>
      i.item.case === "event" ? [[Number(i.item.value.seq), i.item.value.data.case === "message" ? i.item.value.data.value.body : "r"]] : []
    )
    const fromWs = wsEvents.map((e) => [e.seq, e.kind === "message.created" ? e.data.body : "r"])
    expect(fromStream).toEqual(fromWs)
    s.stop()
    wsBob.close()
    wsAlice.close()
  }, 60_000)

  it("Connect JSON with an unpaired surrogate is invalid_argument, as over REST, and stores nothing", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    const post = async (method: string, json: string) => {
      const res = await fetch(`${endpoints.url}/chat.v1.ChatService/${method}`, {
        method: "POST",
        headers: { authorization: `Bearer ${await token(alice)}`, "content-type": "application/json" },
        body: json
      })
      return { status: res.status, json: (await res.json()) as any }
    }
    const body = await post("SendMessage", `{"room":"${room}","clientMsgId":"u1","body":"a\\ud800b"}`)
    expect([body.status, body.json.code]).toEqual([400, "invalid_argument"])
    const id = await post("SendMessage", `{"room":"${room}","clientMsgId":"k\\udc00","body":"x"}`)
    expect(id.json.code).toBe("invalid_argument")
    const a = await clients("connect", alice)
    expect((await a.chat.getMessagesFromRoom({ room })).messages).toEqual([])
  })

  it("a rate-limited send is resource_exhausted with RetryInfo", async () => {
    const alice = user("alice")
    const room = await api.group(alice, [])
    // Over HTTP/2, so that all go out at once: 400 against a burst of 150 (refilled at 10/s).
    const a = await clients("grpc", alice)
    const results = await Promise.allSettled(
      Array.from({ length: 400 }, (_, i) => a.chat.sendMessage({ room, clientMsgId: `r${i}`, body: "x" }))
    )
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected")
    const error = rejected === undefined ? undefined : ConnectError.from(rejected.reason)
    expect(error?.code).toBe(Code.ResourceExhausted)
    const [retry] = error!.findDetails(RetryInfoSchema)
    expect(retry.retryDelay).toBeDefined()
    expect(Number(error!.metadata.get("retry-after-ms"))).toBeGreaterThan(0)
  }, 60_000)
})

describe("server API for backends", () => {
  const rest = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(endpoints.url + path, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    return { status: res.status, json: (await res.json()) as any }
  }

  it("server API - REST: a service key creates rooms, sends as a member, adds and removes members; user tokens are refused", async () => {
    const owner = user("owner")
    const bob = user("bob")
    const created = await rest(SERVICE_KEY, "POST", "/v1/server/rooms", { owner, name: "ops", members: [] })
    expect(created.status).toBe(201)
    const room = created.json.id as string
    const ws = await api.client(owner)
    await ws.request({ type: "subscribe", room })
    const sent = await rest(SERVICE_KEY, "POST", `/v1/server/rooms/${room}/messages`, { sender: owner, clientMsgId: "s1", body: "from a backend" })
    expect([sent.status, sent.json.seq]).toEqual([201, 1])
    expect((await ws.events(room, 1))[0]).toMatchObject({ seq: 1, data: { body: "from a backend", sender: owner } })
    // Idempotent per (sender, clientMsgId).
    expect((await rest(SERVICE_KEY, "POST", `/v1/server/rooms/${room}/messages`, { sender: owner, clientMsgId: "s1", body: "x" })).json).toEqual(sent.json)
    // The named sender's rights apply: a non-member cannot send.
    expect((await rest(SERVICE_KEY, "POST", `/v1/server/rooms/${room}/messages`, { sender: bob, clientMsgId: "s2", body: "x" })).status).toBe(404)
    const added = await rest(SERVICE_KEY, "POST", `/v1/server/rooms/${room}/members`, { actor: owner, users: [bob] })
    expect(added.json.members.map((m: any) => m.user).sort()).toEqual([bob, owner].sort())
    expect((await rest(SERVICE_KEY, "DELETE", `/v1/server/rooms/${room}/members/${bob}?actor=${owner}`)).status).toBe(200)
    // Credentials do not cross: a user token is not a service key, and a key is not a user token.
    expect((await rest(await token(owner), "POST", "/v1/server/rooms", { owner, name: "x" })).status).toBe(401)
    expect((await rest(SERVICE_KEY, "GET", "/v1/rooms")).status).toBe(401)
    expect((await rest("wrong-key", "POST", "/v1/server/rooms", { owner, name: "x" })).json.error.code).toBe("unauthorized")
    ws.close()
  })

  it("server API - REST: a send as the system reaches a room the system is no member of, as sender \"system\"; nobody can be or speak as \"system\"", async () => {
    const owner = user("owner")
    const room = await api.group(owner, [])
    const ws = await api.client(owner)
    await ws.request({ type: "subscribe", room })
    const path = `/v1/server/rooms/${room}/messages`
    const sent = await rest(SERVICE_KEY, "POST", path, { asSystem: true, clientMsgId: "n1", body: "maintenance tonight" })
    expect([sent.status, sent.json.seq]).toEqual([201, 1])
    expect((await ws.events(room, 1))[0]).toMatchObject({ seq: 1, kind: "message.created", actor: "system", data: { sender: "system", body: "maintenance tonight" } })
    // Idempotent per (system, clientMsgId) in the room.
    expect((await rest(SERVICE_KEY, "POST", path, { asSystem: true, clientMsgId: "n1", body: "x" })).json).toEqual(sent.json)
    // Exactly one of sender and asSystem.
    const both = await rest(SERVICE_KEY, "POST", path, { sender: owner, asSystem: true, clientMsgId: "n2", body: "x" })
    const neither = await rest(SERVICE_KEY, "POST", path, { clientMsgId: "n3", body: "x" })
    expect([both.status, neither.status]).toEqual([400, 400])
    // It is the system's message for every member: unread, in history, and marked by a read.
    expect((await api.rest(owner, "GET", "/v1/rooms")).json.rooms.find((r: any) => r.id === room)).toMatchObject({ unread: 1 })
    expect((await api.rest(owner, "GET", `/v1/rooms/${room}/messages`)).json.messages.map((m: any) => m.sender)).toEqual(["system"])
    expect((await api.rest(owner, "POST", `/v1/rooms/${room}/read`, { seq: 1 })).json).toMatchObject({ seq: 1, marked: 1 })
    // "system" is reserved: no token speaks as it, no room has it as a member, the named-sender path cannot use it.
    expect((await api.rest("system", "GET", "/v1/rooms")).status).toBe(401)
    expect((await api.rest(owner, "POST", "/v1/rooms", { kind: "group", name: "g", members: ["system"] })).status).toBe(400)
    expect((await api.rest(owner, "POST", `/v1/rooms/${room}/members`, { users: ["system"] })).status).toBe(400)
    expect((await rest(SERVICE_KEY, "POST", "/v1/server/rooms", { owner: "system", name: "x" })).status).toBe(400)
    expect((await rest(SERVICE_KEY, "POST", path, { sender: "system", clientMsgId: "n4", body: "x" })).status).toBe(404)
    ws.close()
  })

  it.each<TransportKind>(["connect", "grpc"])("server API - %s: SendMessageAs with as_system reaches a stream client as sender \"system\"", async (kind) => {
    const server = createClient(ServerService, transportFor(kind, endpoints, SERVICE_KEY))
    const owner = user("owner")
    const { room } = await server.createGroupRoom({ owner, name: "announcements", members: [] })
    const o = await clients(kind, owner)
    const stream = readStream(o.chat, room!.id)
    await stream.waitFor((items) => items[0]?.item.case === "subscribed")
    const ack = await server.sendMessageAs({ room: room!.id, asSystem: true, clientMsgId: "a1", body: "welcome" })
    expect(ack.ack!.seq).toBe(1n)
    expect((await server.sendMessageAs({ room: room!.id, asSystem: true, clientMsgId: "a1", body: "welcome" })).ack).toEqual(ack.ack)
    await stream.waitFor(() => stream.seqs().length >= 1)
    const event = stream.items.find((i) => i.item.case === "event")!.item.value as any
    expect([event.actor, event.data.value.sender, event.data.value.body]).toEqual(["system", "system", "welcome"])
    expect(await codeOf(server.sendMessageAs({ room: room!.id, sender: owner, asSystem: true, clientMsgId: "a2", body: "x" }))).toBe(Code.InvalidArgument)
    expect(await codeOf(server.sendMessageAs({ room: room!.id, clientMsgId: "a3", body: "x" }))).toBe(Code.InvalidArgument)
    // A user token whose sub is "system" is refused.
    const impostor = await clients(kind, "system")
    expect(await codeOf(impostor.chat.getRoomList({}))).toBe(Code.Unauthenticated)
    expect((await o.chat.markMessagesAsRead({ room: room!.id, seq: 1n })).marked).toBe(1n)
    stream.stop()
  })

  it.each<TransportKind>(["connect", "grpc"])("server API - %s: ServerService with a service key; a user token is unauthenticated", async (kind) => {
    const server = createClient(ServerService, transportFor(kind, endpoints, SERVICE_KEY))
    const owner = user("owner")
    const member = user("member")
    const { room } = await server.createGroupRoom({ owner, name: "svc", members: [member] })
    const ack = await server.sendMessageAs({ room: room!.id, sender: member, clientMsgId: "k", body: "hi" })
    expect(ack.ack!.seq).toBe(1n)
    expect((await server.addRoomMembers({ room: room!.id, actor: owner, users: [user("third")] })).room!.members).toHaveLength(3)
    expect((await server.removeRoomMember({ room: room!.id, actor: owner, user: member })).ack!.seq).toBe(3n)
    expect(await codeOf(server.sendMessageAs({ room: room!.id, sender: member, clientMsgId: "k2", body: "gone" }))).toBe(Code.NotFound)
    const asUser = createClient(ServerService, transportFor(kind, endpoints, await token(owner)))
    expect(await codeOf(asUser.createGroupRoom({ owner, name: "x" }))).toBe(Code.Unauthenticated)
  })
})
