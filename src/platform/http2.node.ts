/**
 * Http2Client over node:http2: one session per origin, reused by every request (APNs asks
 * for long-lived connections) and opened again after it closes or fails. `http://` origins
 * speak h2c (tests); `https://` ones TLS with ALPN h2.
 */
import * as http2 from "node:http2"
import type { Http2Client, Http2Response } from "../push/Http2.ts"

/** A stream with no answer in this long fails (the worker retries the notification). */
const REQUEST_TIMEOUT_MS = 30_000

export const makeNodeHttp2Client = (): Http2Client => {
  const sessions = new Map<string, http2.ClientHttp2Session>()
  const sessionFor = (origin: string) => {
    const open = sessions.get(origin)
    if (open !== undefined && !open.closed && !open.destroyed) return open
    const session = http2.connect(origin)
    const forget = () => {
      if (sessions.get(origin) === session) sessions.delete(origin)
    }
    session.on("error", forget)
    session.on("close", forget)
    session.on("goaway", forget)
    // An idle session must not keep the process alive.
    session.unref()
    sessions.set(origin, session)
    return session
  }
  return {
    post: (origin, path, headers, body) =>
      new Promise<Http2Response>((resolve, reject) => {
        let req: http2.ClientHttp2Stream
        try {
          req = sessionFor(origin).request({ ":method": "POST", ":path": path, ...headers })
        } catch (e) {
          reject(e)
          return
        }
        req.setTimeout(REQUEST_TIMEOUT_MS, () => req.close(http2.constants.NGHTTP2_CANCEL))
        let status = 0
        let responseHeaders: Record<string, string> = {}
        const chunks: Array<Buffer> = []
        req.on("response", (h) => {
          status = Number(h[":status"])
          responseHeaders = Object.fromEntries(
            Object.entries(h).flatMap(([k, v]) => (k.startsWith(":") || v === undefined ? [] : [[k, String(v)]]))
          )
        })
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () =>
          status === 0 ? reject(new Error("stream ended without a response")) : resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString("utf8") })
        )
        req.on("error", reject)
        req.end(body)
      }),
    close: async () => {
      for (const s of sessions.values()) s.close()
      sessions.clear()
    }
  }
}
