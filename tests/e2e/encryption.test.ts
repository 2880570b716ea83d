import { describe, expect, it } from "vitest"
import { makeApi, user } from "./chat.suite.ts"
import { runCli, startChild, tempDir } from "../support/node.ts"

const KEY_A = "aa".repeat(32)
const KEY_B = "bb".repeat(32)

describe("e2e - encryption at rest", () => {
  it("a wrong master key fails clearly, and rotate-master-key keeps old messages readable", async () => {
    const dataDir = tempDir()
    const alice = user("alice")
    let room: string
    {
      const api = makeApi(await startChild({ CHAT_DATA_DIR: dataDir, CHAT_MASTER_KEY: KEY_A }))
      room = await api.group(alice, [])
      const a = await api.client(alice)
      await a.request({ type: "send", room, clientMsgId: "s1", body: "secret one" })
      a.close()
      await api.node.close()
    }
    {
      // Key B alone cannot open room keys wrapped under key A: the client is told, the log names the key id.
      const node = await startChild({ CHAT_DATA_DIR: dataDir, CHAT_MASTER_KEY: KEY_B })
      const api = makeApi(node)
      const r = await api.rest(alice, "GET", `/v1/rooms/${room}/messages`)
      expect(r.status).toBe(500)
      expect(r.json.error.code).toBe("internal")
      expect(r.json.error.message).toMatch(/master key/)
      expect(node.output()).toMatch(/KeyUnavailable master key id [0-9a-f]{16}/)
      expect(node.output()).not.toContain(KEY_A)
      expect(node.output()).not.toContain(KEY_B)
      await node.close()
    }
    const rotated = await runCli(["rotate-master-key"], {
      CHAT_DATA_DIR: dataDir,
      CHAT_MASTER_KEY: KEY_B,
      CHAT_MASTER_KEYS_OLD: KEY_A
    })
    expect(rotated.stderr).toBe("")
    expect(rotated.stdout).toMatch(/1 room keys re-wrapped/)
    expect(rotated.code).toBe(0)
    {
      const api = makeApi(await startChild({ CHAT_DATA_DIR: dataDir, CHAT_MASTER_KEY: KEY_B }))
      const r = await api.rest(alice, "GET", `/v1/rooms/${room}/messages`)
      expect(r.status).toBe(200)
      expect(r.json.messages.map((m: any) => m.body)).toEqual(["secret one"])
      await api.node.close()
    }
  }, 120_000)
})
