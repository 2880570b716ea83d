/**
 * Benchmark fixture: the lean design issue 12 measures this project against, built here so
 * that its cost can be read on the machine the bench runs on (`lean-pg`, never in the
 * default runs). It keeps the guarantees of a send and nothing else:
 *
 * - `ws` with no framework; the JWT is checked once, at the upgrade;
 * - a gapless per-room seq assigned in memory (this process is each room's only writer), one
 *   commit in flight per room, and the room's head advanced only when its commit landed;
 * - AES-256-GCM on every body (a random 96-bit IV per message), stored base64 as ours is;
 * - one SQL statement per group commit: every message waiting, of every room, inserted from
 *   `unnest` arrays; groups wait up to `PEER_LINGER_MS` (default 6, this project's default)
 *   for more, with at most four in flight, as this project's group commit on PostgreSQL does;
 * - the ack after the commit; each event serialised once and written to every subscriber,
 *   the sockets corked for the whole group, as this project does;
 * - idempotency: a resend of a recent clientMsgId is answered from memory with its first
 *   seq; one the memory no longer holds meets the unique key, and its group is answered with
 *   an error (this project answers it with the first ack; the bench never resends).
 *
 * It speaks a subset of this project's WebSocket protocol (`subscribe`, `send`, `ack`,
 * `event`), so the bench's `ours` client adapter drives it; rooms are names (no REST, no
 * membership table: a socket may send to the rooms it subscribed to). No edits, reactions,
 * history, read positions, fencing, supervision, metrics or push.
 *
 * PEER_POSTGRES_URL names an empty database; PEER_JWT_SECRET is the bench's HS256 secret.
 */
import { createCipheriv, createSecretKey, randomBytes, randomFillSync } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { jwtVerify } from "jose"
import postgres from "postgres"
import { WebSocketServer, type WebSocket } from "ws"

const url = process.env.PEER_POSTGRES_URL
if (url === undefined || url === "") throw new Error("PEER_POSTGRES_URL is required")
const secret = new TextEncoder().encode(process.env.PEER_JWT_SECRET ?? "")
if (secret.length === 0) throw new Error("PEER_JWT_SECRET is required")
const LINGER_MS = Number(process.env.PEER_LINGER_MS ?? 6)
const CONCURRENCY = 4
const RECENT = 256

const sql = postgres(url, { max: 10, onnotice: () => {} })
await sql`
  CREATE TABLE IF NOT EXISTS lean_messages (
    room          text NOT NULL,
    seq           bigint NOT NULL,
    sender        text NOT NULL,
    client_msg_id text NOT NULL,
    iv            text NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, seq),
    UNIQUE (room, sender, client_msg_id)
  )`
const INSERT = `INSERT INTO lean_messages (room, seq, sender, client_msg_id, iv, body)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])`

// The data is thrown away with the database: a key per process run.
const key = createSecretKey(randomBytes(32))
const iv = Buffer.alloc(12)

interface Room {
  readonly name: string
  /** The last committed seq; undefined until read from the table. */
  head: number | undefined
  loading: Promise<void> | undefined
  committing: boolean
  readonly subscribers: Set<Client>
  /** clientMsgId -> seq of recent sends, oldest first. */
  readonly recent: Map<string, number>
}

interface Client {
  readonly ws: WebSocket
  readonly user: string
  readonly rooms: Set<string>
}

interface Pending {
  readonly room: Room
  readonly client: Client
  readonly id: string
  readonly cmid: string
  readonly body: string
}

const rooms = new Map<string, Room>()
const roomOf = (name: string): Room => {
  let r = rooms.get(name)
  if (r === undefined) {
    r = { name, head: undefined, loading: undefined, committing: false, subscribers: new Set(), recent: new Map() }
    rooms.set(name, r)
  }
  return r
}

const load = (room: Room): Promise<void> =>
  (room.loading ??= sql.unsafe("SELECT coalesce(max(seq), 0)::int AS head FROM lean_messages WHERE room = $1", [room.name], { prepare: true }).then(
    (rows) => {
      room.head = rows[0]!.head as number
      room.loading = undefined
    },
    (e: unknown) => {
      room.loading = undefined
      throw e
    }
  ))

const send = (client: Client, frame: string, corked: Set<Socket>) => {
  const socket = (client.ws as unknown as { _socket?: Socket })._socket
  if (socket !== undefined && !corked.has(socket)) {
    socket.cork()
    corked.add(socket)
  }
  client.ws.send(frame)
}

const errorFrame = (id: string | undefined, code: string, message: string) =>
  JSON.stringify({ type: "error", ...(id !== undefined ? { id } : {}), code, message })

let waiting: Array<Pending> = []
let inFlight = 0
let timer: ReturnType<typeof setTimeout> | undefined

const schedule = () => {
  if (timer !== undefined || inFlight >= CONCURRENCY || waiting.length === 0) return
  timer = setTimeout(flush, LINGER_MS)
}

/** One group: every waiting message whose room has no commit in flight, numbered now. */
function flush() {
  timer = undefined
  if (inFlight >= CONCURRENCY) return
  const group: Array<Pending & { seq: number; iv: string; sealed: string }> = []
  const rest: Array<Pending> = []
  const next = new Map<Room, number>()
  for (const p of waiting) {
    const room = p.room
    if (room.committing && !next.has(room)) {
      rest.push(p)
      continue
    }
    const seq = (next.get(room) ?? room.head!) + 1
    next.set(room, seq)
    randomFillSync(iv)
    const cipher = createCipheriv("aes-256-gcm", key, iv)
    cipher.setAAD(Buffer.from(`${room.name}:${seq}`))
    const body = cipher.update(p.body, "utf8")
    const tail = cipher.final()
    const sealed = Buffer.concat([body, tail, cipher.getAuthTag()]).toString("base64")
    group.push({ ...p, seq, iv: iv.toString("base64"), sealed })
  }
  waiting = rest
  if (group.length === 0) return
  for (const room of next.keys()) room.committing = true
  inFlight++
  sql
    .unsafe(
      INSERT,
      [
        group.map((m) => m.room.name),
        group.map((m) => m.seq),
        group.map((m) => m.client.user),
        group.map((m) => m.cmid),
        group.map((m) => m.iv),
        group.map((m) => m.sealed)
      ] as never,
      { prepare: true }
    )
    .then(
      () => {
        const corked = new Set<Socket>()
        const ts = new Date().toISOString()
        for (const m of group) {
          const room = m.room
          room.head = m.seq
          room.recent.set(`${m.client.user}\u0000${m.cmid}`, m.seq)
          if (room.recent.size > RECENT) room.recent.delete(room.recent.keys().next().value!)
          send(m.client, JSON.stringify({ type: "ack", id: m.id, room: room.name, seq: m.seq, ts }), corked)
          const event = JSON.stringify({ type: "event", room: room.name, seq: m.seq, ts, kind: "message", actor: m.client.user, data: { body: m.body } })
          for (const c of room.subscribers) send(c, event, corked)
        }
        for (const s of corked) s.uncork()
      },
      (e: unknown) => {
        // Nothing of the group is stored: the heads stay, so the next numbers are the same.
        const corked = new Set<Socket>()
        for (const m of group) send(m.client, errorFrame(m.id, "unavailable", `commit failed: ${String(e).slice(0, 100)}`), corked)
        for (const s of corked) s.uncork()
      }
    )
    .finally(() => {
      for (const room of next.keys()) room.committing = false
      inFlight--
      schedule()
    })
  if (waiting.length > 0) schedule()
}

const onFrame = (client: Client, text: string) => {
  let f: { type?: unknown; id?: unknown; room?: unknown; clientMsgId?: unknown; body?: unknown }
  try {
    f = JSON.parse(text)
  } catch {
    client.ws.send(errorFrame(undefined, "bad_request", "not JSON"))
    return
  }
  const id = typeof f.id === "string" ? f.id : undefined
  if (typeof f.room !== "string") {
    client.ws.send(errorFrame(id, "bad_request", "room is required"))
    return
  }
  const room = roomOf(f.room)
  if (f.type === "send") {
    if (typeof f.clientMsgId !== "string" || typeof f.body !== "string" || id === undefined) {
      client.ws.send(errorFrame(id, "bad_request", "id, clientMsgId and body are required"))
      return
    }
    if (!client.rooms.has(room.name)) {
      client.ws.send(errorFrame(id, "forbidden", "subscribe first"))
      return
    }
    const seen = room.recent.get(`${client.user}\u0000${f.clientMsgId}`)
    if (seen !== undefined) {
      client.ws.send(JSON.stringify({ type: "ack", id, room: room.name, seq: seen, duplicate: true }))
      return
    }
    waiting.push({ room, client, id, cmid: f.clientMsgId, body: f.body })
    schedule()
  } else if (f.type === "subscribe") {
    load(room).then(
      () => {
        room.subscribers.add(client)
        client.rooms.add(room.name)
        client.ws.send(JSON.stringify({ type: "subscribed", id, room: room.name, seq: room.head }))
      },
      () => client.ws.send(errorFrame(id, "unavailable", "could not read the room"))
    )
  } else {
    client.ws.send(errorFrame(id, "bad_request", "unsupported frame type"))
  }
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
const http = createServer((_req, res) => res.writeHead(404).end())
http.on("upgrade", (req, socket, head) => {
  const auth = req.headers.authorization ?? ""
  jwtVerify(auth.startsWith("Bearer ") ? auth.slice(7) : "", secret).then(
    ({ payload }) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        const client: Client = { ws, user: String(payload.sub), rooms: new Set() }
        ws.on("message", (data: Buffer, isBinary: boolean) => (isBinary ? undefined : onFrame(client, data.toString())))
        ws.on("close", () => {
          for (const name of client.rooms) rooms.get(name)?.subscribers.delete(client)
        })
      }),
    () => socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n")
  )
})

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (http.address() as AddressInfo).port })}\n`)
})

process.on("SIGTERM", () => {
  for (const c of wss.clients) c.terminate()
  http.close()
  void sql.end({ timeout: 2 }).finally(() => process.exit(0))
})
