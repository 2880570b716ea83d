/** `chat push-worker` as a child process (the same entry point as `npm run chat -- push-worker`). */
import { spawn, type ChildProcess } from "node:child_process"

export interface WorkerProc {
  readonly child: ChildProcess
  readonly output: () => string
  /** SIGTERM (or `signal`), resolved once the process has exited. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

export const startPushWorker = (env: Record<string, string>): WorkerProc => {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.node.ts", "push-worker"], {
    env: { ...process.env, CHAT_LOG_LEVEL: "warning", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (c) => (output += c))
  child.stderr!.on("data", (c) => (output += c))
  return {
    child,
    output: () => output,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((r) => child.once("exit", r))
      child.kill(signal)
      await exited
    }
  }
}
