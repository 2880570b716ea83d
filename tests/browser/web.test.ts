/**
 * The web chat at `/` in real Chromium: alice and bob in two browser contexts against a
 * node started as a child process in embedded mode with its generated development secret.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Browser, BrowserContext } from "playwright-core"
import { startChild, type TestNode } from "../support/node.ts"
import { bodies, createGroup, devSignIn, launch, message, send, shot } from "./support.ts"

describe("web chat - in Chromium", () => {
  let node: TestNode
  let browser: Browser
  const contexts: BrowserContext[] = []

  beforeAll(async () => {
    // No CHAT_JWT_SECRET: the node generates one into its data dir, and offers dev sign-in.
    // The history test seeds 70 messages over REST as one user, more than the default send
    // burst (50): the bucket is widened so the seeding is not rate limited on a fast machine.
    ;[node, browser] = await Promise.all([
      startChild({ CHAT_JWT_SECRET: undefined as unknown as string, CHAT_SEND_BURST: "200", CHAT_SEND_RATE: "200" }),
      launch()
    ])
  }, 180_000)
  afterAll(async () => {
    await browser?.close()
    await node?.close()
  })

  it("web chat - a configured CHAT_JWT_SECRET turns the dev sign-in off", async () => {
    const configured = await startChild()
    try {
      expect((await fetch(`${configured.url}/v1/dev`)).status).toBe(404)
      expect((await fetch(`${configured.url}/v1/dev/token`, { method: "POST", body: '{"user":"x"}' })).status).toBe(404)
      const page = await fetch(`${configured.url}/`)
      expect(page.status).toBe(200)
      expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
    } finally {
      await configured.close()
    }
    expect((await fetch(`${node.url}/v1/dev`)).status).toBe(200)
  }, 120_000)

  it("web chat - alice and bob chat; bob goes offline, alice sends, bob comes back and sees each message once, in order", async () => {
    const ctxA = await browser.newContext({ viewport: { width: 1100, height: 720 } })
    const ctxB = await browser.newContext({ viewport: { width: 1100, height: 720 } })
    contexts.push(ctxA, ctxB)
    const alice = await ctxA.newPage()
    const bob = await ctxB.newPage()
    const errors: string[] = []
    for (const p of [alice, bob]) p.on("pageerror", (e) => errors.push(e.message))

    await alice.goto(node.url)
    await alice.getByLabel("Your name").waitFor()
    await shot(alice, "01-sign-in")
    await devSignIn(alice, node.url, "alice")
    await devSignIn(bob, node.url, "bob")

    // alice creates a group with bob and writes; bob's list shows it with an unread badge.
    await createGroup(alice, "team", ["bob"])
    await send(alice, "hello bob")
    await alice.locator("#messages .body", { hasText: "hello bob" }).waitFor()
    const bobsRoom = bob.locator(".room", { hasText: "team" })
    await bobsRoom.locator(".badge", { hasText: "1" }).waitFor({ timeout: 15_000 })
    await expect(bobsRoom.locator(".room-last").textContent()).resolves.toBe("alice: hello bob")
    await shot(bob, "02-room-list-unread")

    // bob opens it, replies to alice's message; alice sees the reply and bob typing.
    await bobsRoom.click()
    await bob.locator("#messages .body", { hasText: "hello bob" }).waitFor()
    await bob.getByLabel("Message", { exact: true }).fill("typing…")
    await alice.getByText("bob is typing…").waitFor()
    await bob.getByRole("button", { name: "Reply to alice" }).click()
    await bob.getByLabel("Message", { exact: true }).fill("hi alice")
    await bob.getByLabel("Message", { exact: true }).press("Enter")
    await alice.locator("blockquote", { hasText: "alice: hello bob" }).waitFor()
    // bob read up to his reply: alice sees the receipt; bob shows online in the member list.
    await alice.getByText("Seen by bob").waitFor()
    await alice.locator(".member.online", { hasText: "bob" }).waitFor()

    // react, edit, delete
    await message(bob, "hello bob").getByRole("button", { name: "React 👍" }).click()
    await alice.locator(".reaction", { hasText: "👍 1" }).waitFor()
    await message(alice, "hello bob").getByRole("button", { name: "Edit message" }).click()
    await alice.getByLabel("Message", { exact: true }).fill("hello bob, edited")
    await alice.getByLabel("Message", { exact: true }).press("Enter")
    await message(bob, "hello bob, edited").getByText("(edited)").waitFor()
    await send(bob, "oops")
    await bob.locator(".message.mine .body", { hasText: "oops" }).waitFor()
    bob.once("dialog", (d) => void d.accept())
    await message(bob, "oops").getByRole("button", { name: "Delete message" }).click()
    await alice.getByText("This message was deleted").waitFor()
    await shot(alice, "03-chat")

    // bob goes offline; alice sends; bob comes back and has each message once, in order.
    await ctxB.setOffline(true)
    await bob.locator("#banner").waitFor({ state: "visible" })
    const offline = Array.from({ length: 5 }, (_, i) => `while you were away ${i + 1}`)
    for (const text of offline) await send(alice, text)
    await alice.locator("#messages .body", { hasText: offline[4] }).waitFor()
    await shot(bob, "04-offline-banner")
    await ctxB.setOffline(false)
    await bob.locator("#messages .body", { hasText: offline[4] }).waitFor({ timeout: 30_000 })
    await bob.locator("#banner").waitFor({ state: "hidden", timeout: 30_000 })
    const seen = await bodies(bob)
    expect(seen).toEqual(["hello bob, edited", "hi alice", "This message was deleted", ...offline])
    expect(errors).toEqual([])

    // phone-sized: one pane at a time, with a way back to the list.
    await bob.setViewportSize({ width: 390, height: 760 })
    await shot(bob, "05-phone-chat")
    await bob.getByRole("button", { name: "Back to rooms" }).click()
    await bob.locator(".room", { hasText: "team" }).waitFor()
    await shot(bob, "06-phone-rooms")
  }, 120_000)

  it("web chat - scrolling up loads older history", async () => {
    const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } })
    contexts.push(ctx)
    const token = (await (await fetch(`${node.url}/v1/dev/token`, { method: "POST", body: '{"user":"carol"}' })).json()).token
    const room = await (
      await fetch(`${node.url}/v1/rooms`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ kind: "group", name: "archive" })
      })
    ).json()
    for (let i = 1; i <= 70; i++) {
      const r = await fetch(`${node.url}/v1/rooms/${room.id}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ body: `old ${i}`, clientMsgId: `old-${i}` })
      })
      expect(r.status).toBe(201)
    }
    // Signed in after the messages exist: the page follows the room from its head, so the
    // older messages come only from history pages.
    const carol = await ctx.newPage()
    await devSignIn(carol, node.url, "carol")
    await carol.locator(".room", { hasText: "archive" }).click({ timeout: 15_000 })
    await carol.locator("#messages .body", { hasText: "old 70" }).waitFor()
    expect((await bodies(carol)).length).toBe(30)
    // Scroll to the top until the first message is there: each page is 30 messages.
    await carol.locator("#scroller").hover()
    // The count is read before the wheel: a page that lands before the wait starts still counts.
    for (let i = 0; i < 5 && !(await bodies(carol)).includes("old 1"); i++) {
      const before = (await bodies(carol)).length
      await carol.mouse.wheel(0, -20_000)
      await carol.waitForFunction((n) => document.querySelectorAll("#messages .body").length > n || document.querySelector("#history-status")?.textContent === "Start of the conversation", before)
    }
    const all = await bodies(carol)
    expect(all).toEqual(Array.from({ length: 70 }, (_, i) => `old ${i + 1}`))
    await carol.getByText("Start of the conversation").waitFor()
  }, 90_000)
})
