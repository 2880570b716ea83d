/**
 * Starts chat nodes for end-to-end tests: in-process (same code as `npm start`, minus the
 * environment) or as a child process running `src/main.node.ts` with an environment.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { signToken } from "../../src/auth/Auth.ts"
import { ChatConfigTag, type ChatConfig } from "../../src/config/ChatConfig.ts"
import type { ResolvedSecrets } from "../../src/config/secrets.ts"
import { makeNodePlatform } from "../../src/platform/node.ts"
import { startNode, type NodeHooks, type RunningNode } from "../../src/server.ts"
import { Option } from "effect"

export const TEST_SECRET = "test-secret-for-e2e-only-0123456789"
export const TEST_MASTER_KEY = "11".repeat(32)

export interface TestNode {
  readonly url: string
  readonly wsUrl: string
  readonly node?: RunningNode
  readonly token: (user: string) => Promise<string>
  readonly close: () => Promise<void>
}

export const tempDir = (prefix = "chat-test-") => mkdtempSync(join(tmpdir(), prefix))

const secretsFor = (masterKeyByte = 0x11): ResolvedSecrets => ({
  jwtSecret: Option.some(Redacted.make(TEST_SECRET)),
  masterKey: Redacted.make(new Uint8Array(32).fill(masterKeyByte)),
  oldMasterKeys: []
})

export const token = (user: string, options: { expiresIn?: number | string } = {}) =>
  Effect.runPromise(signToken(TEST_SECRET, user, options))

/** A node in this process, on a free port; PGlite in a fresh temp dir unless overridden. */
export const startInProcess = async (
  overrides: Partial<ChatConfig> = {},
  hooks: NodeHooks = {}
): Promise<TestNode> => {
  const dataDir = overrides.dataDir ?? tempDir()
  const scope = Effect.runSync(Scope.make())
  const config = await Effect.runPromise(
    Effect.provide(ChatConfigTag, ChatConfigTag.layerFrom({ port: 0, host: "127.0.0.1", dataDir, ...overrides }))
  )
  const node = await Effect.runPromise(
    startNode(config, secretsFor(), makeNodePlatform(), hooks).pipe(
      Scope.extend(scope),
      Effect.provide(Layer.merge(NodeContext.layer, Logger.minimumLogLevel(LogLevel.Warning)))
    )
  )
  const url = `http://127.0.0.1:${node.port}`
  return {
    url,
    wsUrl: `ws://127.0.0.1:${node.port}/v1/ws`,
    node,
    token: (user) => token(user),
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning))))
      if (overrides.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

/**
 * A node as a child process, ready once it logs its port: `tsx src/main.node.ts`, or with
 * `{ built: true }` the bundle `npm start` runs (dist/bundle/node/main.js; build it first with
 * scripts/build-if-stale.mjs).
 */
export const startChild = async (
  env: Record<string, string> = {},
  options: { readonly built?: boolean } = {}
): Promise<TestNode & { child: ChildProcess; output: () => string }> => {
  const dataDir = env.CHAT_DATA_DIR ?? tempDir()
  const args = options.built === true ? ["dist/bundle/node/main.js"] : ["--import", "tsx", "src/main.node.ts"]
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      CHAT_PORT: "0",
      CHAT_HOST: "127.0.0.1",
      CHAT_DATA_DIR: dataDir,
      CHAT_JWT_SECRET: TEST_SECRET,
      CHAT_MASTER_KEY: TEST_MASTER_KEY,
      CHAT_LOG_LEVEL: "info",
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      // The node logs its bound port once listening (CHAT_PORT=0 picks a free one).
      const m = /"port":(\d+)/.exec(output)
      if (m) resolve(Number(m[1]))
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => reject(new Error(`chat node exited with ${code}: ${output.slice(-2000)}`)))
  })
  const url = `http://127.0.0.1:${port}`
  return {
    child,
    output: () => output,
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    token: (user) => token(user),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r))
        child.kill("SIGTERM")
        await exited
      }
      if (env.CHAT_DATA_DIR === undefined) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

/** Runs the operator CLI (`npm run chat -- ...`) to completion. */
export const runCli = (args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.node.ts", ...args], {
      env: { ...process.env, CHAT_LOG_LEVEL: "warning", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c) => (stdout += c))
    child.stderr.on("data", (c) => (stderr += c))
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
