/**
 * Generated Connect clients (src/gen, from proto/) over the three transports of
 * @connectrpc/connect-node: Connect and gRPC-Web on the main port (HTTP/1.1), gRPC on the
 * gRPC port (HTTP/2). Each user gets clients that send their bearer token as metadata.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node"
import { ChatService, type StreamMessagesResponse } from "../../src/gen/chat/v1/chat_pb.ts"
import { TokensService } from "../../src/gen/tokens/v1/tokens_pb.ts"

export type TransportKind = "connect" | "grpc-web" | "grpc"

export interface Endpoints {
  /** http://host:port of the main port. */
  readonly url: string
  /** http://host:port of the gRPC (HTTP/2) port. */
  readonly grpcUrl?: string
}

export const transportFor = (kind: TransportKind, endpoints: Endpoints, token?: string): Transport => {
  const auth: Interceptor = (next) => (req) => {
    if (token !== undefined) req.header.set("authorization", `Bearer ${token}`)
    return next(req)
  }
  const interceptors = [auth]
  switch (kind) {
    case "connect":
      return createConnectTransport({ baseUrl: endpoints.url, httpVersion: "1.1", interceptors })
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: endpoints.url, httpVersion: "1.1", interceptors })
    case "grpc":
      if (endpoints.grpcUrl === undefined) throw new Error("no gRPC port")
      return createGrpcTransport({ baseUrl: endpoints.grpcUrl, interceptors })
  }
}

export interface Clients {
  readonly chat: Client<typeof ChatService>
  readonly tokens: Client<typeof TokensService>
}

export const clientsFor = (kind: TransportKind, endpoints: Endpoints, token?: string): Clients => {
  const transport = transportFor(kind, endpoints, token)
  return { chat: createClient(ChatService, transport), tokens: createClient(TokensService, transport) }
}

/**
 * Reads a StreamMessages call in the background, recording every item, so a test can await
 * what it expects (no sleeps) and stop the call when done.
 */
export interface StreamReader {
  readonly items: Array<StreamMessagesResponse>
  /** Seqs of the events received, in order. */
  readonly seqs: () => Array<number>
  readonly waitFor: (match: (items: Array<StreamMessagesResponse>) => boolean, timeoutMs?: number) => Promise<void>
  /** Resolves with the error that ended the stream (undefined: it ended normally or was stopped). */
  readonly ended: Promise<unknown>
  readonly stop: () => void
}

export const readStream = (chat: Client<typeof ChatService>, room: string, since?: number): StreamReader => {
  const abort = new AbortController()
  const items: Array<StreamMessagesResponse> = []
  const waiters = new Set<() => void>()
  let done = false
  const ended = (async () => {
    try {
      for await (const item of chat.streamMessages({ room, ...(since !== undefined ? { since: BigInt(since) } : {}) }, { signal: abort.signal })) {
        items.push(item)
        for (const w of waiters) w()
      }
      return undefined
    } catch (e) {
      return abort.signal.aborted ? undefined : e
    } finally {
      done = true
      for (const w of waiters) w()
    }
  })()
  return {
    items,
    seqs: () => items.flatMap((i) => (i.item.case === "event" ? [Number(i.item.value.seq)] : [])),
    waitFor: (match, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (match(items)) {
            cleanup()
            resolve()
          } else if (done) {
            cleanup()
            void ended.then((e) => reject(new Error(`stream ended before the expected items: ${String(e)}`)))
          }
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`timed out; ${items.length} items received`))
        }, timeoutMs)
        const cleanup = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      }),
    ended,
    stop: () => abort.abort()
  }
}
