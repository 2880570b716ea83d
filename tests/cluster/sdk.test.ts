/**
 * The client SDK across a 2-node cluster: alice connected to n1, bob to n2, both exchanging
 * messages while n1 drains (SIGTERM: close 1001) or dies (SIGKILL: its rooms move after the
 * lease). Each client must see every message once, in order, and get each ack once.
 */
import { afterEach, describe, expect, it } from "vitest"
import { startNats, type RunningNats } from "../support/nats.ts"
import { awaitBalanced, createGroup, startCluster, type TestCluster } from "./support.ts"
import { checkExactlyOnceInOrder, record, sdkClient } from "../sdk/support.ts"
import type { ChatClient } from "../../clients/js/src/index.ts"

describe("cluster - SDK clients through a drain and a failover", () => {
  let nats: RunningNats | undefined
  let cluster: TestCluster | undefined
  const clients: ChatClient[] = []
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await cluster?.close()
    await nats?.stop()
  })

  for (const [how, signal] of [["drain (SIGTERM, close 1001)", "SIGTERM"], ["failover (SIGKILL)", "SIGKILL"]] as const) {
    it(`cluster - sdk: n1 ${how} while alice (on n1) and bob (on n2) exchange 300 messages: each seen once, in order, each acked once`, async () => {
      nats = await startNats()
      cluster = await startCluster(nats.url, ["n1", "n2"])
      const c = cluster
      await awaitBalanced(c.nodes, 2)
      const [n1, n2] = c.nodes
      const alice = `alice-${process.pid}-${signal}`
      const bob = `bob-${process.pid}-${signal}`
      const room = await createGroup(n2, await c.token(alice), [bob])
      // Each client lists both nodes, its own first: after n1 goes, alice moves to n2.
      const a = sdkClient([n1.url, n2.url], { token: await c.token(alice), pingIntervalMs: 1_000 })
      const b = sdkClient([n2.url, n1.url], { token: await c.token(bob), pingIntervalMs: 1_000 })
      clients.push(a, b)
      const ra = a.room(room)
      const rb = b.room(room)
      await Promise.all([ra.ready, rb.ready])
      const seenA = record(ra)
      const seenB = record(rb)
      const bodies = new Set<string>()
      const acks = new Map<string, number>()
      let killed: Promise<void> | undefined
      const sendAll = async (r: typeof ra, who: string) => {
        const sends: Promise<void>[] = []
        for (let i = 0; i < 150; i++) {
          const body = `${who} ${i}`
          bodies.add(body)
          sends.push(r.send(body).then(() => void acks.set(body, (acks.get(body) ?? 0) + 1)))
          if (i === 50 && who === "alice") killed = n1.child.kill(signal) ? new Promise((res) => n1.child.once("exit", () => res())) : undefined
          if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 20))
        }
        await Promise.all(sends)
      }
      await Promise.all([sendAll(ra, "alice"), sendAll(rb, "bob")])
      await killed
      await Promise.all([
        seenA.until((e) => e.length >= 300, 60_000, "alice's 300 events"),
        seenB.until((e) => e.length >= 300, 60_000, "bob's 300 events")
      ])
      expect(acks.size).toBe(300)
      expect([...acks.values()].every((n) => n === 1)).toBe(true)
      for (const seen of [seenA, seenB]) {
        expect(checkExactlyOnceInOrder(seen.events, 1, bodies)).toEqual({ count: 300, outOfOrder: 0, duplicates: 0, missing: 0 })
      }
    }, 300_000)
  }
})
