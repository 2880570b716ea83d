/**
 * Clustered mode (3 nodes, real NATS and PostgreSQL): StreamMessages on one node receives
 * sends made on the others, keeps going on a survivor through kill -9 of the room's owner,
 * and a stream cut by the kill resumes on another node with `since`, losing nothing.
 */
import { afterEach, describe, expect, it } from "vitest"
import { startNats, type RunningNats } from "../support/nats.ts"
import { clientsFor, readStream } from "../support/connectClient.ts"
import { waitFor } from "../support/wait.ts"
import { awaitBalanced, roomsOwnedBy, startCluster, steadySender, storedMessages, type TestCluster } from "./support.ts"

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("cluster - Connect StreamMessages", () => {
  let nats: RunningNats | undefined
  let cluster: TestCluster | undefined
  afterEach(async () => {
    await cluster?.close()
    await nats?.stop()
  })

  it("cluster - a stream gets sends from every node, survives kill -9 of the owner, and a cut stream resumes elsewhere with nothing lost", async () => {
    nats = await startNats()
    cluster = await startCluster(nats.url, ["n1", "n2", "n3"])
    const c = cluster
    await awaitBalanced(c.nodes, 3)
    const ids = c.nodes.map((n) => n.id)
    const alice = `alice-${process.pid}`
    const token = await c.token(alice)
    const [room] = await roomsOwnedBy("n1", 1, c.nodes[1], token, ids)
    const victim = c.nodes.find((n) => n.id === "n1")!
    const survivors = c.nodes.filter((n) => n !== victim)
    const onSurvivor = readStream(clientsFor("connect", { url: survivors[0].url }, token).chat, room)
    const onVictim = readStream(clientsFor("grpc-web", { url: victim.url }, token).chat, room)
    await onSurvivor.waitFor((items) => items.length > 0)
    await onVictim.waitFor((items) => items.length > 0)
    const senders = c.nodes.map((_, i) =>
      steadySender({
        nodes: () => (victim.child.exitCode === null && victim.child.signalCode === null ? c.nodes : survivors),
        token,
        room,
        prefix: `s${i}`,
        count: 30,
        deadlineMs: 90_000
      })
    )
    const acked = () => senders.reduce((n, s) => n + s.acks.length, 0)
    await waitFor("20 acks before the kill", () => acked() >= 20, { timeoutMs: 60_000, intervalMs: 50, describe: acked })
    victim.child.kill("SIGKILL")
    await Promise.all(senders.map((s) => s.done))
    const total = (await storedMessages(c.dbUrl, room)).eventSeqs.length
    expect(total).toBe(90)

    // The survivor's stream never stopped: every event once, in order.
    await onSurvivor.waitFor(() => onSurvivor.seqs().length >= total, 30_000)
    expect(onSurvivor.seqs()).toEqual(range(1, total))

    // The victim's stream was cut; it resumes on another node from its last seq.
    await onVictim.ended
    const last = onVictim.seqs().at(-1) ?? 0
    expect(onVictim.seqs()).toEqual(range(1, last))
    const resumed = readStream(clientsFor("grpc-web", { url: survivors[1].url }, token).chat, room, last)
    await resumed.waitFor(() => resumed.seqs().length >= total - last, 30_000)
    expect(resumed.seqs()).toEqual(range(last + 1, total))
    onSurvivor.stop()
    resumed.stop()
  }, 180_000)
})
