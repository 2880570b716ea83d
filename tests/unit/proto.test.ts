/**
 * The protobuf API: `buf lint`, `buf breaking` against the last released image
 * (proto/released.binpb, committed; `npm run proto:release` moves it forward on a
 * release), and the generated TypeScript in src/gen is what `buf generate` makes now.
 */
import { execFile } from "node:child_process"
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "../..")
const bin = join(root, "node_modules/.bin")
// protoc-gen-es is found by buf on PATH.
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` }
const run = promisify(execFile)
const buf = (args: string[], cwd = root) =>
  run(join(bin, "buf"), args, { cwd, env }).then(
    () => ({ code: 0, output: "" }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` })
  )

const temps: string[] = []
const temp = () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-proto-"))
  temps.push(dir)
  return dir
}
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })))

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })

describe("proto", () => {
  it("proto - buf lint passes", async () => {
    expect(await buf(["lint", "proto"])).toEqual({ code: 0, output: "" })
  }, 60_000)

  it("proto - no breaking change against the released image", async () => {
    expect(await buf(["breaking", "proto", "--against", "proto/released.binpb"])).toEqual({ code: 0, output: "" })
  }, 60_000)

  it("proto - buf breaking does find a removed field (the check can fail)", async () => {
    const dir = temp()
    cpSync(join(root, "proto"), dir, { recursive: true })
    const chat = join(dir, "chat/v1/chat.proto")
    writeFileSync(chat, readFileSync(chat, "utf8").replace("  string client_msg_id = 2;\n", ""))
    const result = await buf(["breaking", dir, "--against", join(root, "proto/released.binpb")])
    expect(result.code).not.toBe(0)
    expect(result.output).toContain("client_msg_id")
  }, 60_000)

  it("proto - the committed src/gen is what buf generate makes from proto/", async () => {
    const out = temp()
    expect(await buf(["generate", "--output", out])).toEqual({ code: 0, output: "" })
    const fresh = join(out, "src/gen")
    const committed = join(root, "src/gen")
    const list = (dir: string) => files(dir).map((f) => relative(dir, f)).sort()
    expect(list(committed)).toEqual(list(fresh))
    for (const f of list(fresh)) {
      expect(readFileSync(join(committed, f), "utf8"), `src/gen/${f} is stale: run npm run generate:proto`).toBe(
        readFileSync(join(fresh, f), "utf8")
      )
    }
  }, 60_000)
})
