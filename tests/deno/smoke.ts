/**
 * Deno smoke test (`deno task test`): starts a chat node on Deno as a child process, then
 * REST, two WebSocket users, a message delivered live and in history, and a SIGTERM that
 * closes both sockets with 1001 before the process exits. Steps depend on each other, so
 * the first failure stops the run. Exits 0 only when every step passed; the last line is
 * always the "smoke: N passed, M failed" summary.
 */
import { Effect } from "effect"
import { signToken } from "../../src/auth/Auth.ts"

const ROOT = new URL("../../", import.meta.url)
/** The whole run, start-up included; Deno's first start compiles the sources. */
const RUN_TIMEOUT_MS = 120_000
/** One awaited step once the node is up. */
const STEP_TIMEOUT_MS = 15_000
// Chosen here and given to the node, so this process can mint tokens it accepts.
const JWT_SECRET = `deno-smoke-${crypto.randomUUID()}`
const MASTER_KEY = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("")

let passed = 0
let failed = 0
const summary = () => `smoke: ${passed} passed, ${failed} failed`

const within = <A>(what: string, promise: Promise<A>, ms = STEP_TIMEOUT_MS): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const check = (ok: boolean, message: string) => {
  if (!ok) throw new Error(message)
}

const step = async <A>(name: string, run: () => Promise<A>): Promise<A> => {
  try {
    const result = await run()
    passed++
    console.log(`ok   ${name}`)
    return result
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e instanceof Error ? e.message : String(e)}`)
    throw e
  }
}

// --- the node under test -------------------------------------------------------------------

interface ChildNode {
  readonly process: Deno.ChildProcess
  readonly port: Promise<number>
  /** The node's output so far, for failure messages. */
  readonly output: () => string
}

const startNode = (dataDir: string): ChildNode => {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "src/main.deno.ts"],
    cwd: ROOT,
    env: {
      CHAT_PORT: "0",
      CHAT_HOST: "127.0.0.1",
      CHAT_DATA_DIR: dataDir,
      CHAT_JWT_SECRET: JWT_SECRET,
      CHAT_MASTER_KEY: MASTER_KEY,
      CHAT_LOG_LEVEL: "info"
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped"
  }).spawn()
  let output = ""
  let onPort: (port: number) => void = () => {}
  const port = new Promise<number>((resolve) => (onPort = resolve))
  // Both streams are read to the end, so a full pipe never blocks the node.
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    let line = ""
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true })
      output += text
      line += text
      let nl: number
      while ((nl = line.indexOf("\n")) >= 0) {
        const entry = line.slice(0, nl)
        line = line.slice(nl + 1)
        try {
          const log = JSON.parse(entry)
          if (log.message === "chat node listening") onPort(Number(log.annotations.port))
        } catch {
          // Not a log line (Deno's own diagnostics go to stderr as text).
        }
      }
    }
  }
  void drain(process.stdout)
  void drain(process.stderr)
  return { process, port, output: () => output }
}

// --- a WebSocket client that awaits frames ----------------------------------------------

interface Frame {
  readonly type: string
  readonly [k: string]: any
}

const connect = (url: string) =>
  new Promise<{
    request: (frame: object) => Promise<Frame>
    waitFor: (match: (f: Frame) => boolean) => Promise<Frame>
    closed: Promise<CloseEvent>
  }>((resolve, reject) => {
    const ws = new WebSocket(url)
    const frames: Frame[] = []
    const waiters = new Set<() => void>()
    let closeEvent: CloseEvent | undefined
    const closed = new Promise<CloseEvent>((res) =>
      ws.addEventListener("close", (e) => {
        closeEvent = e
        res(e)
        for (const w of waiters) w()
      })
    )
    ws.addEventListener("message", (e) => {
      frames.push(JSON.parse(String(e.data)))
      for (const w of waiters) w()
    })
    const waitFor = (match: (f: Frame) => boolean) =>
      within(
        "a WebSocket frame",
        new Promise<Frame>((res, rej) => {
          const look = () => {
            const found = frames.find(match)
            if (found !== undefined) res(found)
            else if (closeEvent !== undefined) rej(new Error(`socket closed (${closeEvent.code}) before the expected frame`))
            else return
            waiters.delete(look)
          }
          waiters.add(look)
          look()
        })
      )
    let ids = 0
    const request = (frame: object) => {
      const id = `r${++ids}`
      ws.send(JSON.stringify({ ...frame, id }))
      return waitFor((f) => f.id === id)
    }
    ws.addEventListener("open", () => resolve({ request, waitFor, closed }), { once: true })
    ws.addEventListener("error", () => reject(new Error(`WebSocket to ${url.replace(/access_token=[^&]+/, "access_token=…")} failed`)), {
      once: true
    })
  })

// --- the run ------------------------------------------------------------------------------

const run = async (node: ChildNode) => {
  const port = await step("the node starts on Deno and logs the port it bound", () =>
    within("the 'chat node listening' log line", node.port, RUN_TIMEOUT_MS)
  )
  const base = `http://127.0.0.1:${port}`
  const [alice, bob] = await Promise.all(["alice", "bob"].map((u) => Effect.runPromise(signToken(JWT_SECRET, u))))

  await step("GET /healthz answers 200", async () => {
    const res = await fetch(`${base}/healthz`)
    await res.body?.cancel()
    check(res.status === 200, `status ${res.status}`)
  })

  const room = await step("alice creates a group room with bob over REST", async () => {
    const res = await fetch(`${base}/v1/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
      body: JSON.stringify({ kind: "group", name: "deno smoke", members: ["bob"] })
    })
    const body = await res.json()
    check(res.status === 201, `status ${res.status}: ${JSON.stringify(body)}`)
    return body.id as string
  })

  const [a, b] = await step("both users connect with ?access_token= and subscribe", async () => {
    const clients = await within(
      "two WebSocket connections",
      Promise.all([alice, bob].map((t) => connect(`ws://127.0.0.1:${port}/v1/ws?access_token=${t}`)))
    )
    for (const c of clients) {
      const reply = await c.request({ type: "subscribe", room })
      check(reply.type === "subscribed" && reply.seq === 0, `subscribe answered ${JSON.stringify(reply)}`)
    }
    return clients
  })

  await step("alice's message is acked and bob receives it live", async () => {
    const ack = await a.request({ type: "send", room, clientMsgId: "smoke-1", body: "hello from deno" })
    check(ack.type === "ack" && ack.seq === 1, `send answered ${ack.type} (seq ${ack.seq}, code ${ack.code})`)
    const event = await b.waitFor((f) => f.type === "event" && f.room === room && f.seq === 1)
    check(event.kind === "message.created" && event.data.body === "hello from deno", "bob's event is not alice's message")
  })

  await step("history returns the message", async () => {
    const history = await b.request({ type: "history", room })
    // Failure messages name types and counts only: no message bodies in test output either.
    check(history.type === "history" && history.messages?.length === 1, `history answered ${history.type} with ${history.messages?.length} messages`)
    check(history.messages[0].body === "hello from deno" && history.messages[0].sender === "alice", "wrong message in history")
  })

  await step("Connect (JSON over HTTP/1.1) on the main port: bob reads history and marks it read", async () => {
    const rpc = async (method: string, request: object) => {
      const res = await fetch(`${base}/chat.v1.ChatService/${method}`, {
        method: "POST",
        headers: { authorization: `Bearer ${bob}`, "content-type": "application/json", "connect-protocol-version": "1" },
        body: JSON.stringify(request)
      })
      return { status: res.status, json: await res.json() }
    }
    const history = await rpc("GetMessagesFromRoom", { room })
    check(history.status === 200 && history.json.messages?.length === 1, `GetMessagesFromRoom answered ${history.status} with ${history.json.messages?.length} messages`)
    // int64 fields are strings in the protobuf JSON mapping.
    const read = await rpc("MarkMessagesAsRead", { room, seq: "1" })
    check(read.status === 200 && read.json.seq === "1" && read.json.marked === "1", `MarkMessagesAsRead answered ${read.status}: ${JSON.stringify(read.json)}`)
  })

  await step("GET /openapi.json is the OpenAPI 3.1 document and /docs its reference page", async () => {
    const doc = await fetch(`${base}/openapi.json`)
    const json = await doc.json()
    check(doc.status === 200 && json.openapi === "3.1.0", `openapi.json answered ${doc.status}`)
    const page = await fetch(`${base}/docs`)
    const html = await page.text()
    check(page.status === 200 && html.includes("/openapi.json"), `docs answered ${page.status}`)
  })

  await step("SIGTERM closes both sockets with 1001 and the node exits 0", async () => {
    node.process.kill("SIGTERM")
    const codes = await within("both sockets to close", Promise.all([a.closed, b.closed]).then((es) => es.map((e) => e.code)))
    check(codes.every((c) => c === 1001), `close codes ${codes.join(", ")}`)
    const status = await within("the node to exit", node.process.status)
    check(status.success, `node exited with ${status.code}${status.signal ? ` (${status.signal})` : ""}`)
  })
}

const dataDir = await Deno.makeTempDir({ prefix: "chat-deno-smoke-" })
const node = startNode(dataDir)
const watchdog = setTimeout(() => {
  console.log(`FAIL the run did not finish within ${RUN_TIMEOUT_MS} ms`)
  failed++
  finish()
}, RUN_TIMEOUT_MS)

let finished = false
function finish(): void {
  if (finished) return
  finished = true
  clearTimeout(watchdog)
  try {
    node.process.kill("SIGKILL")
  } catch {
    // Already exited: the expected case.
  }
  if (failed > 0) console.log(`--- node output (last 4000 chars) ---\n${node.output().slice(-4000)}`)
  try {
    Deno.removeSync(dataDir, { recursive: true })
  } catch (e) {
    console.log(`could not remove ${dataDir}: ${e instanceof Error ? e.message : String(e)}`)
  }
  console.log(summary())
  Deno.exit(failed === 0 && passed > 0 ? 0 : 1)
}

try {
  await run(node)
} catch (e) {
  // A failed step has reported itself; anything else (outside a step) is reported here.
  if (failed === 0) {
    failed++
    console.log(`FAIL ${e instanceof Error ? e.message : String(e)}`)
  }
} finally {
  finish()
}
