/**
 * The one thing APNs needs that fetch cannot give on Node: an HTTP/2 request (Apple accepts
 * nothing else). The interface is runtime-free; src/platform/http2.node.ts implements it with
 * node:http2 (Deno runs that file through its node: compatibility).
 */
export interface Http2Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface Http2Client {
  /** POST to `origin` + `path`; rejects on a connection or stream error. */
  readonly post: (origin: string, path: string, headers: Record<string, string>, body: string) => Promise<Http2Response>
  readonly close: () => Promise<void>
}
