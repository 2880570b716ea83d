/**
 * A test WebSocket client (the `ws` package) that records every frame and lets a test
 * await the frame it expects instead of sleeping.
 */
import WebSocket from "ws"

export interface Frame {
  readonly type: string
  readonly [k: string]: any
}

export interface TestClient {
  readonly frames: Frame[]
  readonly send: (frame: object) => void
  readonly sendRaw: (text: string | Buffer) => void
  /** The first frame (from `from` on) that matches; waits until it arrives or the timeout. */
  readonly waitFor: (match: (f: Frame) => boolean, timeoutMs?: number, from?: number) => Promise<Frame>
  /** Send a frame with a fresh id and await the reply carrying that id. */
  readonly request: (frame: object, timeoutMs?: number) => Promise<Frame>
  /** Await `n` events of `room` (counting from the start), in arrival order. */
  readonly events: (room: string, n: number, timeoutMs?: number) => Promise<Frame[]>
  readonly closed: Promise<{ code: number; reason: string }>
  readonly close: () => void
  readonly ws: WebSocket
}

let ids = 0

export const connect = (url: string, token?: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> =>
  new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : undefined
    const ws = new WebSocket(url, { headers, ...options })
    const frames: Frame[] = []
    const waiters = new Set<() => void>()
    let closeInfo: { code: number; reason: string } | undefined
    const closed = new Promise<{ code: number; reason: string }>((res) =>
      ws.on("close", (code, reason) => {
        closeInfo = { code, reason: reason.toString() }
        res(closeInfo)
        for (const w of waiters) w()
      })
    )
    ws.on("message", (data) => {
      try {
        frames.push(JSON.parse(data.toString()))
      } catch {
        frames.push({ type: "__unparseable", raw: data.toString() })
      }
      for (const w of waiters) w()
    })

    const waitFor = (match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0) =>
      new Promise<Frame>((res, rej) => {
        const check = () => {
          for (let i = from; i < frames.length; i++) {
            if (match(frames[i])) {
              cleanup()
              res(frames[i])
              return true
            }
          }
          if (closeInfo) {
            cleanup()
            rej(new Error(`socket closed (${closeInfo.code} ${closeInfo.reason}) before the expected frame`))
            return true
          }
          return false
        }
        const timer = setTimeout(() => {
          cleanup()
          rej(new Error(`timed out waiting for a frame; last frames: ${JSON.stringify(frames.slice(-3))}`))
        }, timeoutMs)
        const waiter = () => void check()
        const cleanup = () => {
          clearTimeout(timer)
          waiters.delete(waiter)
        }
        waiters.add(waiter)
        check()
      })

    const client: TestClient = {
      frames,
      ws,
      send: (frame) => ws.send(JSON.stringify(frame)),
      sendRaw: (text) => ws.send(text),
      waitFor,
      request: (frame, timeoutMs) => {
        const id = `r${++ids}`
        ws.send(JSON.stringify({ ...frame, id }))
        return waitFor((f) => f.id === id, timeoutMs)
      },
      events: async (room, n, timeoutMs = 20_000) => {
        const isEvent = (f: Frame) => f.type === "event" && f.room === room
        await waitFor(() => frames.filter(isEvent).length >= n, timeoutMs)
        return frames.filter(isEvent)
      },
      closed,
      close: () => ws.close()
    }
    ws.once("open", () => resolve(client))
    ws.once("unexpected-response", (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })))
    ws.once("error", (e) => reject(e))
  })
