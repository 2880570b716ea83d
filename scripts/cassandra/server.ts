/**
 * A local Apache Cassandra: the CQL server that stands in for ScyllaDB in tests (started once
 * per run by tests/support/globalSetup.ts) and for trying `CHAT_STORE=scylla` by hand
 * (`npm run cassandra`). ScyllaDB has no package for this machine; Cassandra speaks the same
 * CQL and protocol, and ships on Maven Central.
 *
 * First use fetches `cassandra-all` and its dependencies with Maven (./pom.xml) into
 * `.cache/cassandra/<version>/lib` (about 66 MB); later starts reuse it. The server runs in
 * the foreground of its own process group from a generated cassandra.yaml: loopback only,
 * free ports, small heap, no JMX, every directory under one temporary (or given) folder.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import cassandra from "cassandra-driver"
import { freePort } from "../../tests/support/ports.ts"

export interface CassandraOptions {
  /** CQL port; a free one when absent. */
  readonly nativePort?: number
  /** Keeps data here across runs; a fresh temporary folder (removed at stop) when absent. */
  readonly dataDir?: string
  /** JVM heap; default 1g (the initial heap is half). */
  readonly heap?: string
  /** More JVM options, after the built-in ones (e.g. to try GC or JIT settings). */
  readonly jvmOptions?: ReadonlyArray<string>
  /** Called with progress lines ("fetching ...", "started in ..."). */
  readonly log?: (line: string) => void
}

export interface RunningCassandra {
  /** host:port for CQL clients. */
  readonly contactPoint: string
  readonly pid: number
  /** Milliseconds from spawning the JVM to the first successful CQL connection. */
  readonly startMs: number
  /** Settles when the JVM has exited, for whatever reason. */
  readonly exited: Promise<void>
  readonly stop: () => Promise<void>
}

const here = dirname(fileURLToPath(import.meta.url))
const projectRoot = resolve(here, "..", "..")
const pom = join(here, "pom.xml")
/** Same plugin version as the pom pins; named here too so Maven needs no plugin resolution. */
const COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies"

export const cassandraVersion = (): string => {
  const m = /<cassandra\.version>([^<]+)<\/cassandra\.version>/.exec(readFileSync(pom, "utf8"))
  if (m === null) throw new Error(`${pom} names no cassandra.version`)
  return m[1]
}

const libDir = () => join(projectRoot, ".cache", "cassandra", cassandraVersion(), "lib")

const missingTool = (tool: string, what: string) =>
  new Error(
    `\`${tool}\` was not found: install ${what} (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless maven), ` +
      "or point CHAT_TEST_CASSANDRA at a running CQL server (host:port)"
  )

/** The JDK's major version; Cassandra 5.0 runs on 11 and 17 (the options below are 17's). */
const javaMajor = (): number => {
  const r = spawnSync("java", ["-version"], { encoding: "utf8" })
  if (r.error !== undefined) throw missingTool("java", "a Java 17 runtime")
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.stderr)
  if (m === null) throw new Error(`cannot read the Java version from: ${r.stderr}`)
  return m[1] === "1" ? Number(m[2]) : Number(m[1])
}

/**
 * Fetches the jars once. Maven writes into a sibling folder that is renamed into place when
 * complete, so an interrupted download is never mistaken for a cache.
 */
export const ensureCassandraJars = (log: (line: string) => void = () => {}): string => {
  const lib = libDir()
  if (existsSync(lib)) return lib
  const partial = `${lib}.partial-${process.pid}`
  rmSync(partial, { recursive: true, force: true })
  log(`fetching Apache Cassandra ${cassandraVersion()} from Maven Central into ${lib} (first use only)`)
  const r = spawnSync(
    "mvn",
    ["-q", "-B", "-f", pom, COPY_DEPENDENCIES, "-DincludeScope=runtime", `-DoutputDirectory=${partial}`],
    { encoding: "utf8", timeout: 600_000 }
  )
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ENOENT") throw missingTool("mvn", "Maven")
  if (r.status !== 0) {
    rmSync(partial, { recursive: true, force: true })
    throw new Error(`mvn could not fetch Cassandra (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`)
  }
  try {
    renameSync(partial, lib)
  } catch (e) {
    // Another process finished first: its folder is as good as ours.
    rmSync(partial, { recursive: true, force: true })
    if (!existsSync(lib)) throw e
  }
  return lib
}

/**
 * The smallest configuration that starts: one node that is its own seed, one token (token
 * allocation is skipped), no auth. Timeouts are above the defaults because the node shares two
 * cores with the whole test run; LWTs under contention (the contract's concurrent committers)
 * need the longer CAS timeout.
 */
const cassandraYaml = (dir: string, nativePort: number, storagePort: number) => `
cluster_name: chat-local
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${storagePort}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: ${storagePort}
native_transport_port: ${nativePort}
start_native_transport: true
data_file_directories: [${join(dir, "data")}]
commitlog_directory: ${join(dir, "commitlog")}
saved_caches_directory: ${join(dir, "saved_caches")}
hints_directory: ${join(dir, "hints")}
cdc_raw_directory: ${join(dir, "cdc_raw")}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
auto_snapshot: false
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 4
read_request_timeout: 10000ms
write_request_timeout: 10000ms
range_request_timeout: 20000ms
request_timeout: 20000ms
cas_contention_timeout: 5000ms
paxos_variant: v2
`

/** Keeps Cassandra's own log out of the test output: INFO and up into <dir>/system.log. */
const logbackXml = (dir: string) => `<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${join(dir, "system.log")}</file>
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level [%thread] %logger{25} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`

/** Cassandra's conf/jvm17-server.options (module access it needs on Java 17), minus GC tuning for big heaps. */
const JVM17_OPTIONS = [
  "-Djdk.attach.allowAttachSelf=true",
  "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
  "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
  "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
  "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
  "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
  "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
  "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
  "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
  "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
  "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
  "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
  "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
  "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
  "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
  "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
  "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
  "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
  "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
  "--add-opens", "java.base/java.io=ALL-UNNAMED",
  "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
  "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
  "--add-opens", "java.base/java.lang=ALL-UNNAMED",
  "--add-opens", "java.base/java.util=ALL-UNNAMED",
  "-Dio.netty.tryReflectionSetAccessible=true",
  "-Dio.netty.allocator.useCacheForAllThreads=true",
  "-Dio.netty.allocator.maxOrder=11"
]

const jvmArgs = (lib: string, dir: string, heap: string, extra: ReadonlyArray<string>) => {
  const jamm = readdirSync(lib).find((f) => /^jamm-.*\.jar$/.test(f))
  if (jamm === undefined) throw new Error(`no jamm jar in ${lib}: delete the folder to fetch it again`)
  return [
    `-Xms${halfOf(heap)}`,
    `-Xmx${heap}`,
    "-Xss256k",
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    // C1 only: on two shared cores the start took 13-18 s instead of 19-27 s (C2 compiling
    // competes with start-up); peak speed matters little for tests and local trials.
    "-XX:TieredStopAtLevel=1",
    ...JVM17_OPTIONS,
    // Cassandra measures object sizes (memtables, caches) with jamm, loaded as an agent.
    `-javaagent:${join(lib, jamm)}`,
    `-Dcassandra.config=file://${join(dir, "cassandra.yaml")}`,
    "-Dcassandra-foreground=yes",
    `-Dcassandra.storagedir=${dir}`,
    `-Dlogback.configurationFile=${join(dir, "logback.xml")}`,
    // A single node that is its own seed has no ring to wait for: these cut seconds off the start.
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=100",
    // No fsync of the system keyspaces: schema changes (a test file creates a keyspace of 13
    // tables) are several times faster. Acceptable for test and dev data only.
    "-Dcassandra.unsafesystem=true",
    ...extra,
    "-cp",
    `${lib}/*`,
    "org.apache.cassandra.service.CassandraDaemon"
  ]
}

const halfOf = (heap: string) => {
  const m = /^(\d+)([mMgG])$/.exec(heap)
  if (m === null) throw new Error(`heap must look like 512m or 1g, got ${heap}`)
  const mb = Number(m[1]) * (m[2].toLowerCase() === "g" ? 1024 : 1)
  return `${Math.max(256, Math.floor(mb / 2))}m`
}

const previousStoragePort = (dir: string): number | undefined => {
  const yaml = join(dir, "cassandra.yaml")
  const m = existsSync(yaml) ? /^storage_port: (\d+)$/m.exec(readFileSync(yaml, "utf8")) : null
  return m === null ? undefined : Number(m[1])
}

const tail = (file: string, chars = 4000) => (existsSync(file) ? readFileSync(file, "utf8").slice(-chars) : "")

/** Resolves once a CQL connection succeeds; rejects if the process exits first or after `timeoutMs`. */
const awaitCql = async (child: ChildProcess, contactPoint: string, timeoutMs: number): Promise<void> => {
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) => reject(new Error(`Cassandra exited during start (${code ?? signal})`)))
  )
  exited.catch(() => {})
  const deadline = Date.now() + timeoutMs
  // Polling is the only readiness signal a CQL server gives a client; the backoff caps at 1 s.
  for (let wait = 200; ; wait = Math.min(wait * 1.5, 1000)) {
    const client = new cassandra.Client({
      contactPoints: [contactPoint],
      localDataCenter: "datacenter1",
      socketOptions: { connectTimeout: 2000 }
    })
    const attempt = client.connect().then(
      () => true,
      () => false
    )
    const ok = await Promise.race([attempt, exited])
    await client.shutdown().catch(() => {})
    if (ok) return
    if (Date.now() > deadline) throw new Error(`Cassandra did not accept CQL connections within ${timeoutMs} ms`)
    await Promise.race([new Promise((r) => setTimeout(r, wait)), exited])
  }
}

export const startCassandra = async (options: CassandraOptions = {}): Promise<RunningCassandra> => {
  const log = options.log ?? (() => {})
  if (javaMajor() < 11) throw missingTool("java", "Java 17 (found an older one)")
  const lib = ensureCassandraJars(log)
  const temporary = options.dataDir === undefined
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), "chat-cassandra-"))
  mkdirSync(dir, { recursive: true })
  const nativePort = options.nativePort ?? (await freePort())
  // A node is known by address and storage port: kept data must come back on the same port.
  const storagePort = previousStoragePort(dir) ?? (await freePort())
  writeFileSync(join(dir, "cassandra.yaml"), cassandraYaml(dir, nativePort, storagePort))
  writeFileSync(join(dir, "logback.xml"), logbackXml(dir))
  const outFile = join(dir, "stdout.log")
  const out = openSync(outFile, "a")
  const started = Date.now()
  // Its own process group (detached), so stop() can signal the JVM and anything it forked.
  const child = spawn("java", jvmArgs(lib, dir, options.heap ?? "1g", options.jvmOptions ?? []), { detached: true, stdio: ["ignore", out, out] })
  closeSync(out)
  const pid = child.pid
  if (pid === undefined) throw new Error("could not spawn java")
  const exitedOnce = new Promise<void>((r) => child.once("exit", () => r()))

  let stopped = false
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal)
    } catch {
      // Already gone.
    }
  }
  const cleanUp = () => {
    if (temporary) rmSync(dir, { recursive: true, force: true })
  }
  // A test run that ends without its teardown must not leave a JVM behind.
  const onExit = () => {
    kill("SIGKILL")
    cleanUp()
  }
  process.on("exit", onExit)
  const stop = async () => {
    if (stopped) return
    stopped = true
    process.off("exit", onExit)
    // Throw-away data needs no clean shutdown; kept data gets one (flushes memtables).
    kill(temporary ? "SIGKILL" : "SIGTERM")
    await exitedOnce
    cleanUp()
  }

  const contactPoint = `127.0.0.1:${nativePort}`
  try {
    await awaitCql(child, contactPoint, 180_000)
  } catch (e) {
    const detail = `${(e as Error).message}\n--- stdout ---\n${tail(outFile)}\n--- system.log ---\n${tail(join(dir, "system.log"))}`
    await stop()
    throw new Error(detail)
  }
  const startMs = Date.now() - started
  log(`Cassandra ${cassandraVersion()} is up on ${contactPoint} after ${(startMs / 1000).toFixed(1)} s (pid ${pid}, files in ${dir})`)
  return { contactPoint, pid, startMs, exited: exitedOnce, stop }
}
