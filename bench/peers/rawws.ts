/**
 * Benchmark fixture: the physical limit of a Node fan-out server here. A bare `ws` server
 * that forwards each frame to every socket in its room: no auth, no JSON, no persistence,
 * no ordering or replay. The room is a fixed-width header, so the server reads 9 bytes:
 *
 *   J<room:8>          join the room; answered with the same 9 bytes
 *   M<room:8><body>    forwarded as is (one buffer, no re-encoding) to the room, sender included
 *
 * Prints {"port":N} on stdout once listening on 127.0.0.1 (PORT=0: a free port).
 */
import type { AddressInfo } from "node:net"
import { WebSocketServer, type WebSocket } from "ws"

const ROOM_BYTES = 8
const JOIN = 0x4a // "J"
const MESSAGE = 0x4d // "M"

const rooms = new Map<string, Set<WebSocket>>()
const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  perMessageDeflate: false,
  maxPayload: 64 * 1024
})

wss.on("connection", (ws) => {
  const joined: Array<Set<WebSocket>> = []
  ws.on("message", (data: Buffer) => {
    if (data.length < 1 + ROOM_BYTES) return
    const room = data.toString("latin1", 1, 1 + ROOM_BYTES)
    if (data[0] === JOIN) {
      let members = rooms.get(room)
      if (members === undefined) rooms.set(room, (members = new Set()))
      members.add(ws)
      joined.push(members)
      ws.send(data, { binary: false })
    } else if (data[0] === MESSAGE) {
      const members = rooms.get(room)
      if (members !== undefined) for (const peer of members) peer.send(data, { binary: false })
    }
  })
  ws.on("close", () => {
    for (const members of joined) members.delete(ws)
  })
  ws.on("error", () => {
    // A client reset: the close event follows.
  })
})

wss.on("listening", () => {
  process.stdout.write(`${JSON.stringify({ port: (wss.address() as AddressInfo).port })}\n`)
})

process.on("SIGTERM", () => {
  for (const ws of wss.clients) ws.terminate()
  wss.close(() => process.exit(0))
})
