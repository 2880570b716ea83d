/**
 * Starts a throw-away server binary (nats-server, redis-server) as a child process and
 * awaits the log line that says it is ready, instead of polling its port. Shared by
 * ./nats.ts and ./redis.ts. A test process that exits without stopping its servers
 * still kills them (by pid) and removes their directories on the way out.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface ServerProcess {
  readonly pid: number
  /** Everything the server printed so far (stdout and stderr), for error messages. */
  readonly output: () => string
  readonly running: () => boolean
  /** Sends `signal` (SIGKILL: a crash) and resolves once the process has exited. */
  readonly kill: (signal?: NodeJS.Signals) => Promise<void>
}

export interface SpawnOptions {
  /** Shown in errors. */
  readonly name: string
  /** The line that means "accepting connections"; its match is returned. */
  readonly ready: RegExp
  readonly timeoutMs?: number
}

/** Throws with an install hint when `path` is not there. */
export const requireBinary = (path: string, aptPackage: string, envHint: string): string => {
  if (!existsSync(path)) {
    throw new Error(`${path} not found: install it (apt-get install ${aptPackage}) or point ${envHint} at a running server`)
  }
  return path
}

const live = new Set<ChildProcess>()
const dirs = new Set<string>()
let exitHookInstalled = false
const killLive = () => {
  for (const child of live) child.kill("SIGKILL")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}

/** A server's data directory: removed with `remove()`, or when the process exits. */
export const tempDirFor = (prefix: string): { readonly path: string; readonly remove: () => void } => {
  const path = mkdtempSync(join(tmpdir(), prefix))
  dirs.add(path)
  return {
    path,
    remove: () => {
      dirs.delete(path)
      rmSync(path, { recursive: true, force: true })
    }
  }
}

const tail = (s: string) => s.slice(-3000)

export const spawnServer = async (
  bin: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions
): Promise<{ process: ServerProcess; ready: RegExpMatchArray }> => {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once("exit", killLive)
    // vitest's pool stops its workers with SIGTERM, whose default action skips "exit" handlers:
    // exit properly instead, so that servers a test left running die with the worker.
    if (process.listenerCount("SIGTERM") === 0) process.once("SIGTERM", () => process.exit(143))
  }
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] })
  live.add(child)
  let output = ""
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      live.delete(child)
      resolve()
    })
  )
  const ready = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${options.name} did not become ready within ${options.timeoutMs ?? 20_000} ms:\n${tail(output)}`))
    }, options.timeoutMs ?? 20_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const m = options.ready.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(m)
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("error", (e) => {
      clearTimeout(timer)
      reject(new Error(`${options.name} could not be started (${bin}): ${e.message}`))
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${options.name} exited (${code ?? signal}) before it was ready:\n${tail(output)}`))
    })
  })
  const running = () => child.exitCode === null && child.signalCode === null
  return {
    ready,
    process: {
      pid: child.pid!,
      output: () => output,
      running,
      kill: async (signal = "SIGTERM") => {
        if (running()) child.kill(signal)
        await exited
      }
    }
  }
}
