/**
 * The data directory lock's mechanics (see src/startup/DataDirLock.ts for why a socket).
 * Written against node:net and node:fs, which Deno 2 implements too, so both runtimes
 * run this one adapter (as they share src/platform/nodeServices.ts).
 *
 * - listen on `<dir>/chat.lock`: success means we hold the directory; every connection is
 *   answered with our pid and closed.
 * - EADDRINUSE: the file exists. Connect to it: an answer is the holder's pid (held);
 *   ECONNREFUSED means nobody listens (the holder died, the kernel closed its socket and
 *   left the file): stale. The stale file is moved aside under a unique name and removed
 *   only if it is the very file we found stale (same inode), so two processes that both
 *   saw it stale cannot remove each other's fresh lock; then listen again.
 */
import { randomBytes } from "node:crypto"
import { link, rename, stat, unlink } from "node:fs/promises"
import { connect, createServer, type Server } from "node:net"
import { isAbsolute, join, relative, resolve } from "node:path"
import process from "node:process"
import type { LockAttempt } from "../startup/DataDirLock.ts"

const LOCK_FILE = "chat.lock"
// sun_path is 108 bytes on Linux, 104 on macOS, including the terminating NUL.
const MAX_SOCKET_PATH = 103

const code = (e: unknown) => (e as { code?: string } | null)?.code

/** The shorter of the absolute and the cwd-relative path: the kernel limits socket paths. */
const socketPath = (dir: string): string => {
  const absolute = resolve(dir, LOCK_FILE)
  const rel = relative(process.cwd(), absolute)
  const p = rel.length < absolute.length && !isAbsolute(rel) ? (rel.startsWith(".") ? rel : `./${rel}`) : absolute
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH) {
    throw new Error(`the lock socket path ${absolute} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter CHAT_DATA_DIR`)
  }
  return p
}

const listen = (path: string): Promise<Server | "in-use"> =>
  new Promise((resolvePromise, reject) => {
    const server = createServer((socket) => {
      socket.on("error", () => undefined)
      socket.end(`${process.pid}\n`)
    })
    server.once("error", (e) => (code(e) === "EADDRINUSE" ? resolvePromise("in-use") : reject(e)))
    server.listen(path, () => {
      // The lock must not keep a process alive that has nothing else to do (the CLI).
      server.unref()
      resolvePromise(server)
    })
  })

/** The holder's pid, or "stale" (nobody listens), or "gone" (the file vanished). */
const probe = (path: string): Promise<{ pid: string } | "stale" | "gone"> =>
  new Promise((resolvePromise, reject) => {
    const socket = connect(path)
    let data = ""
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer from the lock holder at ${path} within 5 s`)))
    socket.on("data", (chunk) => (data += chunk.toString()))
    socket.on("end", () => resolvePromise({ pid: data.trim() || "unknown" }))
    socket.on("error", (e) => {
      if (code(e) === "ECONNREFUSED") resolvePromise("stale")
      else if (code(e) === "ENOENT") resolvePromise("gone")
      else reject(e)
    })
  })

const inode = async (path: string): Promise<number | undefined> => {
  try {
    return (await stat(path)).ino
  } catch (e) {
    if (code(e) === "ENOENT") return undefined
    throw e
  }
}

const removeIfSame = async (path: string, expected: number) => {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`
  try {
    await rename(path, aside)
  } catch (e) {
    if (code(e) === "ENOENT") return // someone else removed it already
    throw e
  }
  if ((await inode(aside)) !== expected) {
    // A fresh lock was bound between our probe and the rename: put it back (link fails if
    // yet another one took the name; that one wins and the next round finds it).
    await link(aside, path).catch(() => undefined)
  }
  await unlink(aside).catch(() => undefined)
}

export const tryLock = async (dir: string): Promise<LockAttempt> => {
  const path = socketPath(dir)
  for (let round = 0; round < 10; round++) {
    const server = await listen(path)
    if (server !== "in-use") {
      const mine = await inode(path)
      return {
        _tag: "Acquired",
        release: async () => {
          await new Promise<void>((r) => server.close(() => r()))
          // Node removes the socket file on close, Deno may not; only ever our own file.
          if (mine !== undefined && (await inode(path)) === mine) await unlink(path).catch(() => undefined)
        }
      }
    }
    const before = await inode(path)
    const seen = await probe(path)
    if (typeof seen === "object") return { _tag: "Held", pid: seen.pid }
    if (seen === "stale" && before !== undefined) await removeIfSame(path, before)
  }
  throw new Error(`${join(dir, LOCK_FILE)} keeps changing hands; is another process starting on it?`)
}
