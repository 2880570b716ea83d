/**
 * Every NATS subject and bucket name the node uses, built here and nowhere else.
 * Public and stable (protocol.md): chat.room.<room>.send, chat.room.<room>.events,
 * chat.push.<user>. The rest are this implementation's own.
 */

/** Request/reply ingress for internal services; served by a queue group across nodes. */
export const roomSend = (room: string) => `chat.room.${room}.send`
export const roomSendAll = "chat.room.*.send"
export const ingressQueue = "chat-ingress"

/** Every committed event of a room, in the shape of the WebSocket `event` frame. */
export const roomEvents = (room: string) => `chat.room.${room}.events`

/** Ephemeral frames of a room (typing, read positions, presence): not events, no seq. */
export const roomSignals = (room: string) => `chat.room.${room}.signals`

/**
 * Push intents. A user id is an opaque string that may hold characters NATS gives meaning
 * to ('.', '*', '>', spaces), so it is encoded into one token (base64url).
 */
export const push = (userToken: string) => `chat.push.${userToken}`
export const pushAll = "chat.push.>"
export const pushStream = "CHAT_PUSH"

/** Commands for the rooms of one virtual shard, served by the shard's owner only. */
export const shardCommands = (shard: number) => `chat.internal.shard.${shard}.cmd`

/** KV buckets: live nodes (heartbeats) and shard leases. */
export const nodesBucket = "chat_nodes"
export const leasesBucket = "chat_leases"
export const leaseKey = (shard: number) => `shard.${shard}`
