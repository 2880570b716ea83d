/**
 * The web chat against a 2-node cluster in real Chromium: alice's page is served by n1, bob's
 * by n2; they sign in with tokens (a cluster has a configured secret: no dev sign-in).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Browser } from "playwright-core"
import { startNats, type RunningNats } from "../support/nats.ts"
import { awaitBalanced, startCluster, type TestCluster } from "../cluster/support.ts"
import { bodies, createGroup, launch, message, send, shot, tokenSignIn } from "./support.ts"

describe("web chat - in Chromium against a 2-node cluster", () => {
  let nats: RunningNats
  let cluster: TestCluster
  let browser: Browser

  beforeAll(async () => {
    nats = await startNats()
    ;[cluster, browser] = await Promise.all([startCluster(nats.url, ["n1", "n2"]), launch()])
    await awaitBalanced(cluster.nodes, 2)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await cluster?.close()
    await nats?.stop()
  })

  it("web chat - alice on n1 and bob on n2 chat; the dev sign-in is off in clustered mode", async () => {
    const [n1, n2] = cluster.nodes
    expect((await fetch(`${n1.url}/v1/dev`)).status).toBe(404)
    const alice = await (await browser.newContext()).newPage()
    const bob = await (await browser.newContext()).newPage()
    await tokenSignIn(alice, n1.url, await cluster.token("alice"), "alice")
    await tokenSignIn(bob, n2.url, await cluster.token("bob"), "bob")
    await createGroup(alice, "across", ["bob"])
    await send(alice, "from n1")
    await bob.locator(".room", { hasText: "across" }).click({ timeout: 20_000 })
    await message(bob, "from n1").waitFor()
    await send(bob, "from n2")
    await message(alice, "from n2").waitFor()
    await message(bob, "from n1").getByRole("button", { name: "React 👍" }).click()
    await alice.locator(".reaction", { hasText: "👍 1" }).waitFor()
    expect(await bodies(alice)).toEqual(["from n1", "from n2"])
    expect(await bodies(bob)).toEqual(["from n1", "from n2"])
    await shot(bob, "07-cluster-bob-on-n2")
  }, 120_000)
})
