/**
 * The chat client SDK: `connect()` gives a client that stays connected (backoff and
 * jitter), resumes every room with `since` after a reconnect, and retries unacked sends
 * with their clientMsgId, so the application sees each event once, in order.
 */
import { ChatClient, type ConnectOptions } from "./client.ts"

export const connect = (options: ConnectOptions): ChatClient => new ChatClient(options)

export { ChatClient, ChatError } from "./client.ts"
export type { ClientEvents, ConnectionState, ConnectOptions, WebSocketConstructor, WebSocketLike } from "./client.ts"
export { ChatRoom } from "./room.ts"
export type { RoomEvents, RoomOptions, WriteOptions } from "./room.ts"
export * from "./protocol.ts"
