/**
 * `npm run cassandra [-- --port 9042] [-- --fresh]`: a local CQL server for trying
 * `CHAT_STORE=scylla` (see docs/scylla.md). Data stays in .cache/cassandra/dev between runs
 * unless --fresh; Ctrl-C stops the server cleanly.
 */
import { rmSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { startCassandra } from "./cassandra/server.ts"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "9042" },
    fresh: { type: "boolean", default: false },
    heap: { type: "string", default: "1g" }
  }
})

const dataDir = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), ".cache", "cassandra", "dev")
if (values.fresh) rmSync(dataDir, { recursive: true, force: true })

const server = await startCassandra({
  nativePort: Number(values.port),
  dataDir,
  heap: values.heap,
  log: (line) => console.log(line)
})
console.log(`CHAT_STORE=scylla CHAT_SCYLLA_CONTACT_POINTS=${server.contactPoint} npm start   # in another terminal`)
console.log("Ctrl-C stops the server.")

let stopping = false
const shutdown = () => {
  if (stopping) return
  stopping = true
  console.log("stopping Cassandra ...")
  server.stop().then(
    () => process.exit(0),
    (e) => {
      console.error(e)
      process.exit(1)
    }
  )
}
void server.exited.then(() => {
  if (!stopping) {
    console.error("Cassandra exited by itself; its log is .cache/cassandra/dev/system.log")
    process.exit(1)
  }
})
process.on("SIGINT", shutdown)
process.on("SIGTERM", shutdown)
