/**
 * The floor server of bench/historyfloor.ts: GET /?room=&before= answers the 50 messages
 * below `before` as JSON, straight from the raw query. No auth, no decryption, no framework:
 * the least an HTTP history page can cost. Plain JS so that it runs with no loader. Prints
 * its port on stdout when it listens.
 */
import { createServer } from "node:http"
import postgres from "postgres"

const sql = postgres(process.argv[2], { max: 1, onnotice: () => {} })
// The query of bench/scenarios/history.ts (RAW_PAGE), copied: this file runs with no TS loader.
const RAW_PAGE = `SELECT seq, id, sender, body, ts, reply_to, client_msg_id, edited_at, deleted
FROM messages WHERE room_id = $1::uuid AND seq < $2::bigint ORDER BY seq DESC LIMIT $3::bigint`

const server = createServer((req, res) => {
  const q = new URL(req.url ?? "/", "http://floor").searchParams
  const room = q.get("room")
  sql
    .unsafe(RAW_PAGE, [room, Number(q.get("before")), 50], { prepare: true })
    .then((rows) => {
      const messages = rows.map((r) => ({
        room,
        seq: Number(r.seq),
        id: r.id,
        sender: r.sender,
        body: r.body,
        ts: r.ts.toISOString(),
        deleted: r.deleted
      }))
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ messages }))
    })
    .catch((e) => {
      res.writeHead(500)
      res.end(String(e))
    })
})
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
