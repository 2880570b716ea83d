/**
 * Runs `src/main.node.ts` (or the CLI) with an environment and waits for it to exit: for
 * start-up checks that must refuse with one line and a non-zero exit code.
 */
import { spawn } from "node:child_process"
import { TEST_MASTER_KEY, TEST_SECRET } from "./node.ts"

export interface Exited {
  readonly code: number | null
  readonly output: string
  /** The lines that are not empty. */
  readonly lines: ReadonlyArray<string>
}

export const runToExit = (env: Record<string, string>, entry = "src/main.node.ts", args: ReadonlyArray<string> = []): Promise<Exited> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      env: {
        ...process.env,
        CHAT_PORT: "0",
        CHAT_HOST: "127.0.0.1",
        CHAT_JWT_SECRET: TEST_SECRET,
        CHAT_MASTER_KEY: TEST_MASTER_KEY,
        CHAT_LOG_LEVEL: "info",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (c) => (output += c))
    child.stderr!.on("data", (c) => (output += c))
    // A node that starts instead of refusing would run for ever: say so instead of timing out.
    child.stdout!.on("data", () => {
      if (/chat node listening/.test(output)) {
        child.kill("SIGKILL")
        reject(new Error(`the node started instead of refusing:\n${output.slice(-2000)}`))
      }
    })
    child.once("exit", (code) => resolve({ code, output, lines: output.split("\n").filter((l) => l.trim() !== "") }))
  })

/** The one FATAL line of a refused start, parsed; fails the test when there is not exactly one. */
export const fatalLine = (exited: Exited): string => {
  const fatal = exited.lines.filter((l) => l.includes('"FATAL"'))
  if (fatal.length !== 1) throw new Error(`expected exactly one FATAL line, got:\n${exited.output.slice(-3000)}`)
  // One log format throughout: every line is a JSON object.
  for (const line of exited.lines) JSON.parse(line)
  return (JSON.parse(fatal[0]) as { message: string }).message
}
