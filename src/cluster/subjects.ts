/**
 * Every NATS subject and bucket name the node uses, built here and nowhere else.
 * Public and stable (protocol.md): chat.room.<room>.send, chat.room.<room>.events,
 * chat.push.<user>. The rest are this implementation's own.
 *
 * A namespace (CHAT_NATS_PREFIX) lets several clusters share one NATS account: every
 * subject gets `<prefix>.` in front, every KV bucket and stream `<prefix>_`. The public
 * subjects are prefixed too (an unprefixed ingress would be one queue group for both
 * clusters, and their room events would mix); internal services of a prefixed cluster use
 * `<prefix>.chat.room.<room>.send`. The empty prefix (the default) gives exactly the
 * unprefixed names below.
 */

export interface Subjects {
  /** Request/reply ingress for internal services; served by a queue group across nodes. */
  readonly roomSend: (room: string) => string
  readonly roomSendAll: string
  readonly ingressQueue: string
  /** Every committed event of a room, in the shape of the WebSocket `event` frame. */
  readonly roomEvents: (room: string) => string
  /** Ephemeral frames of a room (typing, read positions, presence): not events, no seq. */
  readonly roomSignals: (room: string) => string
  /**
   * Push intents. A user id is an opaque string that may hold characters NATS gives meaning
   * to ('.', '*', '>', spaces), so it is encoded into one token (base64url).
   */
  readonly push: (userToken: string) => string
  readonly pushAll: string
  readonly pushStream: string
  /** Commands for the rooms of one virtual shard, served by the shard's owner only. */
  readonly shardCommands: (shard: number) => string
  /** KV buckets: live nodes (heartbeats) and shard leases. */
  readonly nodesBucket: string
  readonly leasesBucket: string
}

export const make = (prefix = ""): Subjects => {
  // Subjects: "<prefix>." as a first token; names (buckets, streams, queue groups): "<prefix>_".
  const s = prefix === "" ? "" : `${prefix}.`
  const n = prefix === "" ? "" : `${prefix}_`
  return {
    roomSend: (room) => `${s}chat.room.${room}.send`,
    roomSendAll: `${s}chat.room.*.send`,
    ingressQueue: `${n}chat-ingress`,
    roomEvents: (room) => `${s}chat.room.${room}.events`,
    roomSignals: (room) => `${s}chat.room.${room}.signals`,
    push: (userToken) => `${s}chat.push.${userToken}`,
    pushAll: `${s}chat.push.>`,
    pushStream: `${n}CHAT_PUSH`,
    shardCommands: (shard) => `${s}chat.internal.shard.${shard}.cmd`,
    nodesBucket: `${n}chat_nodes`,
    leasesBucket: `${n}chat_leases`
  }
}

/** The unprefixed names (CHAT_NATS_PREFIX unset). */
export const defaults: Subjects = make("")

/** A shard's key inside the leases bucket (the bucket carries the namespace). */
export const leaseKey = (shard: number) => `shard.${shard}`

