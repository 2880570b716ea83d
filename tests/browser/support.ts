/**
 * Real Chromium (Debian's `chromium` package) driven by playwright-core, for the web chat
 * tests. Screenshots go to artifacts/screenshots/ (gitignored) for a person to look at.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { chromium, type Browser, type Page } from "playwright-core"
import { buildWeb } from "../../clients/web/build.ts"

export const CHROMIUM = process.env.CHAT_TEST_CHROMIUM ?? "/usr/bin/chromium"
export const SHOTS = join(process.cwd(), "artifacts", "screenshots")

export const launch = async (): Promise<Browser> => {
  await buildWeb()
  mkdirSync(SHOTS, { recursive: true })
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] })
}

export const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false })

/** Signs in through the development form and waits for the room list. */
export const devSignIn = async (page: Page, url: string, name: string) => {
  await page.goto(url)
  await page.getByLabel("Your name").fill(name)
  await page.getByRole("button", { name: "Sign in", exact: true }).click()
  await page.getByText(`Signed in as ${name}`).waitFor()
}

/** Signs in with a pasted token (nodes without the dev sign-in). */
export const tokenSignIn = async (page: Page, url: string, token: string, name: string) => {
  await page.goto(url)
  await page.getByLabel("Access token (JWT)").fill(token)
  await page.getByRole("button", { name: "Sign in with token" }).click()
  await page.getByText(`Signed in as ${name}`).waitFor()
}

/** The bodies of the open room's messages, top to bottom. */
export const bodies = (page: Page) => page.locator("#messages .body").allTextContents()

/** Creates a group from the sidebar form; the page opens it. */
export const createGroup = async (page: Page, name: string, members: string[]) => {
  await page.getByText("New room").click()
  await page.getByLabel("Group").check()
  await page.getByLabel("Group name").fill(name)
  await page.getByLabel("Members (comma separated)").fill(members.join(", "))
  await page.getByRole("button", { name: "Create" }).click()
  await page.locator("#room-title", { hasText: name }).waitFor()
}

export const send = async (page: Page, text: string) => {
  await page.getByLabel("Message", { exact: true }).fill(text)
  await page.getByLabel("Message", { exact: true }).press("Enter")
}

/** The message whose body is exactly `body` (not one that quotes it in a reply). */
export const message = (page: Page, body: string) =>
  page.locator(".message").filter({ has: page.locator(".body").getByText(body, { exact: true }) })
