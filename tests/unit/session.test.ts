/**
 * The WebSocket session against a fake socket and a scripted chat service: frame order,
 * pipelining, the inbox bound, slow consumers and the release on close. The e2e suites
 * cover the same session over a real socket; these pin the timing-sensitive cases.
 */
import { Deferred, Effect, Logger, Runtime } from "effect"
import { describe, expect, it } from "vitest"
import { storeFailure, type Chat } from "../../src/chat/Chat.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import { makeInProcess } from "../../src/bus/RoomBus.ts"
import type { ChatError } from "../../core/errors.ts"
import type { Ack, ChatEvent, RoomId, UserId } from "../../core/model.ts"
import { makeHub } from "../../src/http/ws/Hub.ts"
import { makeSession, type SessionLimits, type SocketLink } from "../../src/http/ws/Session.ts"

const ROOM = "0190a5a8-7a5e-7c3b-9f00-000000000001" as RoomId
const ROOM2 = "0190a5a8-7a5e-7c3b-9f00-000000000002" as RoomId
const ALICE = "alice" as UserId

const limits: SessionLimits = { replayCap: 100, maxSubscriptions: 10, maxFrameBytes: 65536, maxBufferedBytes: 1024, inboxCapacity: 4 }

const snapshot = (room: RoomId, lastSeq: number): RoomSnapshot => ({
  room,
  kind: "group",
  createdAt: new Date(0).toISOString(),
  lastSeq,
  members: new Map([[ALICE, "owner"]])
})

/** A socket that records what the session sends and whether it closed it. */
const fakeLink = () => {
  const sent: Array<any> = []
  let closed: { code: number; reason: string } | undefined
  let buffered = 0
  const link: SocketLink = {
    send: (text) => void sent.push(JSON.parse(text)),
    close: (code, reason) => void (closed = { code, reason }),
    bufferedAmount: () => buffered
  }
  return { link, sent, closed: () => closed, setBuffered: (n: number) => void (buffered = n) }
}

/** The chat calls a session makes, each answered by a test-controlled effect, all logged. */
const fakeChat = (answers: { access?: (room: RoomId) => Effect.Effect<RoomSnapshot, ChatError>; ack?: (clientMsgId: string) => Effect.Effect<Ack, ChatError> } = {}) => {
  const calls: Array<string> = []
  const chat = {
    connected: (user: UserId) => Effect.sync(() => void calls.push(`connected ${user}`)),
    disconnected: (user: UserId) => Effect.sync(() => void calls.push(`disconnected ${user}`)),
    subscribed: (user: UserId, room: RoomId) => Effect.sync(() => void calls.push(`subscribed ${user} ${room}`)),
    unsubscribed: (user: UserId, room: RoomId) => Effect.sync(() => void calls.push(`unsubscribed ${user} ${room}`)),
    access: (_user: UserId, room: RoomId) =>
      Effect.zipRight(Effect.sync(() => void calls.push(`access ${room}`)), answers.access?.(room) ?? Effect.succeed(snapshot(room, 0))),
    send: (_user: UserId, room: RoomId, input: { clientMsgId: string }) =>
      Effect.sync(() => {
        // The write is enqueued here, in frame order; the ack is awaited later.
        calls.push(`send ${input.clientMsgId}`)
        return answers.ack?.(input.clientMsgId) ?? Effect.succeed({ room, seq: 1, ts: new Date(0).toISOString() })
      })
  } as unknown as Chat
  return { chat, calls }
}

const event = (room: RoomId, seq: number) =>
  ({ room, seq, ts: "t", kind: "message.created", actor: ALICE, data: {} }) as unknown as ChatEvent

const setup = (
  chat: Chat,
  sessionLimits: SessionLimits = limits,
  store = {} as ChatStore,
  extra: { onError?: (e: ChatError) => void; runtime?: Runtime.Runtime<never> } = {}
) => {
  const bus = makeInProcess()
  const hub = makeHub(bus)
  const socket = fakeLink()
  // Replay goes through the chat service; a test's store stands in for it.
  const replay: Chat["replay"] = (room, after, upTo, limit) => Effect.mapError(store.events(room, after, upTo, limit), storeFailure)
  const session = makeSession(ALICE, socket.link, {
    chat: { ...chat, replay },
    hub,
    limits: sessionLimits,
    fork: (effect, options) => Runtime.runFork(extra.runtime ?? Runtime.defaultRuntime, effect, options),
    onSlowConsumer: () => {},
    onError: extra.onError ?? (() => {})
  })
  const frame = (f: object) => session.onText(JSON.stringify(f))
  return { bus, hub, socket, session, frame }
}

/** Lets forked fibers and deferred work run (no timers involved). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

/** A runtime whose logger records each message with its level. */
const recordingRuntime = () => {
  const logs: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => void logs.push(`${logLevel.label} ${String(message)}`))
  const runtime = Effect.runSync(
    Effect.runtime<never>().pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  )
  return { logs, runtime }
}

describe("ws session", () => {
  it("ws session - frames typed as Object.prototype members or nested thousands deep get bad_request, and the next frame is handled", async () => {
    const { chat } = fakeChat()
    const { socket, session, frame } = setup(chat)
    for (const type of ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"]) frame({ type, id: type })
    session.onText(`{"type":"ping","id":${"[".repeat(10_000)}${"]".repeat(10_000)}}`)
    frame({ type: "ping", id: "after" })
    await settle()
    expect(socket.sent.map((f) => `${f.type} ${f.code ?? ""}`)).toEqual([...Array(6).fill("error bad_request"), "pong "])
    expect(socket.closed()).toBeUndefined()
  })

  it("ws session - a defect in the frame worker closes the socket with 1011 and logs at error level", async () => {
    const { chat } = fakeChat()
    const { logs, runtime } = recordingRuntime()
    const { socket, frame, session } = setup(chat, limits, {} as ChatStore, {
      runtime,
      onError: () => {
        throw new Error("broken error hook")
      }
    })
    frame({ type: "nonsense" })
    await settle()
    expect(socket.closed()).toEqual({ code: 1011, reason: "internal error" })
    expect(logs).toContain("ERROR frame worker died")
    // Closed for good: later frames are not handled.
    session.onText(JSON.stringify({ type: "ping", id: "p" }))
    await settle()
    expect(socket.sent).toEqual([])
  })

  it("handles a frame only after the one before it has finished", async () => {
    const gate = Effect.runSync(Deferred.make<RoomSnapshot, ChatError>())
    const { chat } = fakeChat({ access: () => Deferred.await(gate) })
    const { socket, frame } = setup(chat)
    frame({ type: "subscribe", id: "s", room: ROOM })
    frame({ type: "ping", id: "p" })
    await settle()
    expect(socket.sent).toEqual([])
    Effect.runSync(Deferred.succeed(gate, snapshot(ROOM, 3)))
    await settle()
    expect(socket.sent.map((f) => `${f.type} ${f.id}`)).toEqual(["subscribed s", "pong p"])
    expect(socket.sent[0].seq).toBe(3)
  })

  it("enqueues pipelined writes in frame order and answers each ack when it completes", async () => {
    const gates = new Map<string, Deferred.Deferred<Ack, ChatError>>()
    const { chat, calls } = fakeChat({
      ack: (id) => {
        const d = Effect.runSync(Deferred.make<Ack, ChatError>())
        gates.set(id, d)
        return Deferred.await(d)
      }
    })
    const { socket, frame } = setup(chat)
    frame({ type: "send", id: "1", room: ROOM, clientMsgId: "a", body: "x" })
    frame({ type: "send", id: "2", room: ROOM, clientMsgId: "b", body: "x" })
    frame({ type: "ping", id: "p" })
    await settle()
    // Both writes were enqueued and the ping answered while no ack had come.
    expect(calls.filter((c) => c.startsWith("send"))).toEqual(["send a", "send b"])
    expect(socket.sent.map((f) => f.id)).toEqual(["p"])
    Effect.runSync(Deferred.succeed(gates.get("b")!, { room: ROOM, seq: 2, ts: "t" }))
    Effect.runSync(Deferred.succeed(gates.get("a")!, { room: ROOM, seq: 1, ts: "t" }))
    await settle()
    expect(socket.sent.map((f) => `${f.type} ${f.id}`)).toEqual(["pong p", "ack 2", "ack 1"])
  })

  it("closes with 1008 when more frames wait than the inbox holds", async () => {
    const gate = Effect.runSync(Deferred.make<RoomSnapshot, ChatError>())
    const { chat } = fakeChat({ access: () => Deferred.await(gate) })
    const { socket, frame } = setup(chat)
    frame({ type: "subscribe", id: "s", room: ROOM })
    for (let i = 0; i < limits.inboxCapacity; i++) frame({ type: "ping", id: `p${i}` })
    expect(socket.closed()).toBeUndefined()
    frame({ type: "ping", id: "one too many" })
    expect(socket.closed()).toEqual({ code: 1008, reason: "too many frames in flight" })
  })

  it("closes a slow consumer with 1008 before sending more", async () => {
    const { chat } = fakeChat()
    const { socket, frame } = setup(chat)
    frame({ type: "ping", id: "p1" })
    await settle()
    socket.setBuffered(limits.maxBufferedBytes + 1)
    frame({ type: "ping", id: "p2" })
    await settle()
    expect(socket.sent.map((f) => f.id)).toEqual(["p1"])
    expect(socket.closed()).toEqual({ code: 1008, reason: "slow consumer: outbound buffer full" })
  })

  it("on close leaves the hub and withdraws presence, also for a subscribe still in flight", async () => {
    const gate = Effect.runSync(Deferred.make<RoomSnapshot, ChatError>())
    const { chat, calls } = fakeChat({ access: (room) => (room === ROOM2 ? Deferred.await(gate) : Effect.succeed(snapshot(room, 0))) })
    const { hub, session, socket, frame } = setup(chat)
    frame({ type: "subscribe", id: "s1", room: ROOM })
    frame({ type: "subscribe", id: "s2", room: ROOM2 })
    await settle()
    expect(socket.sent.map((f) => `${f.type} ${f.id}`)).toEqual(["subscribed s1"])
    expect(hub.rooms()).toBe(2)
    session.onClosed()
    await settle()
    expect(hub.rooms()).toBe(0)
    // The announced subscription is withdrawn; the one whose access never came was not announced.
    expect(calls).toContain(`unsubscribed alice ${ROOM}`)
    expect(calls).not.toContain(`unsubscribed alice ${ROOM2}`)
    expect(calls.at(-1)).toBe("disconnected alice")
    // The interrupted subscribe does not come back to life.
    Effect.runSync(Deferred.succeed(gate, snapshot(ROOM2, 0)))
    await settle()
    expect(hub.rooms()).toBe(0)
    expect(socket.sent.map((f) => f.id)).toEqual(["s1"])
  })

  it("delivers live events in seq order, once, filling a gap from storage", async () => {
    const { chat } = fakeChat()
    const reads: Array<string> = []
    const store = {
      events: (room: RoomId, after: number, upTo: number) =>
        Effect.sync(() => {
          reads.push(`${after}..${upTo}`)
          return Array.from({ length: upTo - after }, (_, i) => event(room, after + 1 + i))
        })
    } as unknown as ChatStore
    const { bus, socket, frame } = setup(chat, limits, store)
    frame({ type: "subscribe", id: "s", room: ROOM })
    await settle()
    const publish = (seq: number) => bus.publish(ROOM, { _tag: "Event", event: event(ROOM, seq) })
    publish(1)
    publish(1)
    publish(4)
    await settle()
    publish(5)
    await settle()
    expect(reads).toEqual(["1..3"])
    expect(socket.sent.filter((f) => f.type === "event").map((f) => f.seq)).toEqual([1, 2, 3, 4, 5])
  })
})
