/**
 * The packaged template data directory of the embedded store: a PGlite data directory made
 * once by `npm run pglite-template` (initdb plus every sql/ migration), committed as
 * sql/pglite-template.tar.gz beside the manifest sql/pglite-template.json. A first start
 * unpacks it instead of running initdb (~4.5 s of WASM on this machine, and a second PGlite
 * instance whose memory the process keeps), then applies any migration newer than it.
 *
 * tests/unit/pglite-template.test.ts fails when the template is stale: built by another
 * PGlite version, or from other sql/ files than those in the tree.
 *
 * Node I/O (node:fs, node:zlib), which Deno provides too.
 */
import { createHash } from "node:crypto"
import { chmodSync, closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs"
import { dirname, join, normalize } from "node:path"
import { gunzipSync } from "node:zlib"
import type { Migration } from "../sql/migrate.ts"

export const templateFile = new URL("../../sql/pglite-template.tar.gz", import.meta.url)
export const manifestFile = new URL("../../sql/pglite-template.json", import.meta.url)

/** What the template was built from. */
export interface TemplateManifest {
  /** The @electric-sql/pglite version that ran initdb: its data directory format. */
  readonly pglite: string
  /** The migrations applied in it, in order, each with the SHA-256 of its text. */
  readonly migrations: ReadonlyArray<{ readonly name: string; readonly sha256: string }>
}

export const manifestOf = (pglite: string, migrations: ReadonlyArray<Migration>): TemplateManifest => ({
  pglite,
  migrations: [...migrations]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((m) => ({ name: m.name, sha256: createHash("sha256").update(m.sql).digest("hex") }))
})

export const readManifest = (file: URL = manifestFile): TemplateManifest =>
  JSON.parse(readFileSync(file, "utf8")) as TemplateManifest

/** The template's bytes (gzip'd tar), or undefined when this build ships none. */
export const readTemplate = (file: URL = templateFile): Uint8Array | undefined =>
  existsSync(file) ? readFileSync(file) : undefined

const BLOCK = 512

const field = (header: Uint8Array, offset: number, length: number): string => {
  const bytes = header.subarray(offset, offset + length)
  const end = bytes.indexOf(0)
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end))
}

export interface TarEntry {
  readonly path: string
  readonly type: "file" | "directory"
  readonly data: Uint8Array
}

/**
 * The entries of a ustar archive. Written here rather than taken from a tar library because
 * it reads only archives PGlite's own dumpDataDir writes (regular files and directories,
 * ustar names and prefixes), and it keeps a dependency off the start path; the template
 * test unpacks the real template with it and opens the result.
 */
export const readTar = (tar: Uint8Array): Array<TarEntry> => {
  const entries: Array<TarEntry> = []
  let at = 0
  while (at + BLOCK <= tar.length) {
    const header = tar.subarray(at, at + BLOCK)
    if (header.every((b) => b === 0)) break
    const name = field(header, 0, 100)
    const prefix = field(header, 345, 155)
    const size = parseInt(field(header, 124, 12).trim() || "0", 8)
    const flag = String.fromCharCode(header[156]!)
    const path = prefix === "" ? name : `${prefix}/${name}`
    at += BLOCK
    if (flag === "0" || flag === "\0") {
      entries.push({ path, type: "file", data: tar.subarray(at, at + size) })
    } else if (flag === "5") {
      entries.push({ path, type: "directory", data: new Uint8Array(0) })
    } else {
      throw new Error(`pglite template: unsupported tar entry type ${JSON.stringify(flag)} for ${path}`)
    }
    at += Math.ceil(size / BLOCK) * BLOCK
  }
  return entries
}

/**
 * Flushes every open descriptor to disk, then closes it. The fsyncs run at once on libuv's
 * thread pool rather than one after another: the file system commits concurrent fsyncs in
 * shared journal transactions, so the ~1,000 files of the template reach the disk in about
 * half the wall time of a sequential loop (measured: 150 against 300 ms, and ~500 ms of a
 * first start's CPU profile went to creating and syncing these files one by one).
 */
const SYNC_BATCH = 256

const syncAndClose = (fds: ReadonlyArray<number>): Promise<void> =>
  new Promise((resolve, reject) => {
    let pending = fds.length
    let failure: unknown = undefined
    if (pending === 0) return resolve()
    for (const fd of fds) {
      fsync(fd, (err) => {
        try {
          closeSync(fd)
        } catch (e) {
          failure ??= e
        }
        if (err !== null) failure ??= err
        if (--pending === 0) {
          if (failure === undefined) resolve()
          else reject(failure)
        }
      })
    }
  })

/**
 * Unpacks the template into `dataDir`, which must not exist yet: into a sibling directory
 * first (mode 0700, files fsync'd), renamed into place last, so a crash part-way leaves no
 * half data directory that a restart would take for a database.
 */
export const unpackTemplate = async (templateGz: Uint8Array, dataDir: string): Promise<void> => {
  const entries = readTar(gunzipSync(templateGz))
  const staging = `${dataDir}.unpacking`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(dirname(dataDir), { recursive: true, mode: 0o700 })
  mkdirSync(staging, { mode: 0o700 })
  // mkdir's mode passes through the umask; the data directory is the owner's only, exactly.
  chmodSync(staging, 0o700)
  const open: Array<number> = []
  try {
    for (const entry of entries) {
      // PGlite writes paths from the data directory's root ("/base/5/1259").
      const inner = entry.path.replace(/^\/+/, "")
      // The pid file of the instance that made the dump is no lock of ours.
      if (inner === "" || inner === "postmaster.pid") continue
      const target = normalize(join(staging, inner))
      if (!target.startsWith(staging + "/")) throw new Error(`pglite template: entry outside the data dir: ${entry.path}`)
      if (entry.type === "directory") {
        mkdirSync(target, { recursive: true, mode: 0o700 })
        continue
      }
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 })
      const fd = openSync(target, "w", 0o600)
      open.push(fd)
      let written = 0
      while (written < entry.data.length) written += writeSync(fd, entry.data, written)
      // At most SYNC_BATCH descriptors open at once: well under any open-file limit.
      if (open.length >= SYNC_BATCH) await syncAndClose(open.splice(0))
    }
    await syncAndClose(open.splice(0))
    renameSync(staging, dataDir)
  } catch (e) {
    for (const fd of open) {
      try {
        closeSync(fd)
      } catch {
        // Already closed or never valid: nothing to release.
      }
    }
    rmSync(staging, { recursive: true, force: true })
    throw e
  }
  // The rename itself is durable once the parent directory is.
  try {
    const fd = openSync(dirname(dataDir), "r")
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some platforms cannot open a directory for fsync; the files themselves are synced.
  }
}
