/**
 * Benchmark fixture: Socket.IO 4 rooms, the common way to build a Node chat server.
 * WebSocket transport only (no long-polling), no auth, no persistence.
 *
 *   emit("join", room, ack)          joins the room, then acks
 *   emit("msg", room, body, ack)     broadcasts ("msg", room, body) to the room (sender
 *                                    included), then acks with null
 *
 * Prints {"port":N} on stdout once listening on 127.0.0.1 (PORT=0: a free port).
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Server } from "socket.io"

const http = createServer()
const io = new Server(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false })

io.on("connection", (socket) => {
  socket.on("join", (room: string, ack?: (err: null) => void) => {
    void socket.join(room)
    ack?.(null)
  })
  socket.on("msg", (room: string, body: string, ack?: (err: null) => void) => {
    io.to(room).emit("msg", room, body)
    ack?.(null)
  })
})

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (http.address() as AddressInfo).port })}\n`)
})

process.on("SIGTERM", () => {
  io.close(() => process.exit(0))
})
