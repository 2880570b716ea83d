import { describe, expect, it } from "vitest"
import * as Subjects from "../../src/cluster/subjects.ts"
import { loadChatConfig } from "../../src/config/ChatConfig.ts"
import { Effect, Either } from "effect"

describe("subjects - NATS namespace", () => {
  it("subjects - without a prefix the names are exactly the unprefixed public and internal ones", () => {
    const s = Subjects.defaults
    expect([s.roomSend("r1"), s.roomSendAll, s.ingressQueue, s.roomEvents("r1"), s.roomSignals("r1")]).toEqual([
      "chat.room.r1.send", "chat.room.*.send", "chat-ingress", "chat.room.r1.events", "chat.room.r1.signals"
    ])
    expect([s.push("dQ"), s.pushAll, s.pushStream, s.shardCommands(7), s.nodesBucket, s.leasesBucket]).toEqual([
      "chat.push.dQ", "chat.push.>", "CHAT_PUSH", "chat.internal.shard.7.cmd", "chat_nodes", "chat_leases"
    ])
  })

  it("subjects - a prefix goes in front of every subject, bucket, stream and queue group", () => {
    const s = Subjects.make("blue")
    expect([s.roomSend("r1"), s.roomSendAll, s.ingressQueue, s.roomEvents("r1"), s.roomSignals("r1")]).toEqual([
      "blue.chat.room.r1.send", "blue.chat.room.*.send", "blue_chat-ingress", "blue.chat.room.r1.events", "blue.chat.room.r1.signals"
    ])
    expect([s.push("dQ"), s.pushAll, s.pushStream, s.shardCommands(7), s.nodesBucket, s.leasesBucket]).toEqual([
      "blue.chat.push.dQ", "blue.chat.push.>", "blue_CHAT_PUSH", "blue.chat.internal.shard.7.cmd", "blue_chat_nodes", "blue_chat_leases"
    ])
  })

  it("config - CHAT_NATS_PREFIX refuses characters NATS gives meaning to", async () => {
    for (const bad of ["a.b", "a*", "a>", "a b"]) {
      const r = await Effect.runPromise(Effect.either(loadChatConfig({ CHAT_NATS_PREFIX: bad })))
      expect(Either.isLeft(r) && String(r.left)).toContain("CHAT_NATS_PREFIX")
    }
  })

  it("config - CHAT_NATS_URL with the embedded store is refused, naming CHAT_STORE=postgres|scylla|dual", async () => {
    const r = await Effect.runPromise(Effect.either(loadChatConfig({ CHAT_NATS_URL: "nats://127.0.0.1:4222" })))
    expect(Either.isLeft(r) && String(r.left)).toContain("CHAT_STORE=postgres|scylla|dual")
  })
})
