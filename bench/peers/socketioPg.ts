/**
 * Benchmark fixture: Socket.IO 4 rooms plus one PostgreSQL INSERT per message, committed
 * before the broadcast and the ack: the straightforward way to add persistence to
 * bench/peers/socketio.ts. Same events as that peer; the ack carries null, or an error
 * string when the INSERT failed (nothing is broadcast then).
 *
 * PEER_POSTGRES_URL names an empty database; the table is created at start. The pool has
 * 10 connections, the same default as this project's CHAT_POSTGRES_POOL.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import postgres from "postgres"
import { Server } from "socket.io"

const url = process.env.PEER_POSTGRES_URL
if (url === undefined || url === "") throw new Error("PEER_POSTGRES_URL is required")
const sql = postgres(url, { max: 10, onnotice: () => {} })

await sql`
  CREATE TABLE IF NOT EXISTS messages (
    id         bigserial PRIMARY KEY,
    room       text NOT NULL,
    sender     text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`

const http = createServer()
const io = new Server(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false })

io.on("connection", (socket) => {
  socket.on("join", (room: string, ack?: (err: null) => void) => {
    void socket.join(room)
    ack?.(null)
  })
  socket.on("msg", (room: string, body: string, ack?: (err: string | null) => void) => {
    sql`INSERT INTO messages (room, sender, body) VALUES (${room}, ${socket.id}, ${body})`.then(
      () => {
        io.to(room).emit("msg", room, body)
        ack?.(null)
      },
      (e: unknown) => ack?.(`insert failed: ${String(e).slice(0, 200)}`)
    )
  })
})

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (http.address() as AddressInfo).port })}\n`)
})

process.on("SIGTERM", () => {
  io.close(() => {
    void sql.end({ timeout: 2 }).finally(() => process.exit(0))
  })
})
