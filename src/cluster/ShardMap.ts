/**
 * Room -> shard and shard -> node, each computed here and nowhere else.
 *
 * Room to shard: FNV-1a (32-bit) of the room id modulo the shard count. The shard count
 * is a cluster-wide constant (CHAT_SHARDS): changing it moves rooms between shards, so
 * every node of a cluster must use the same value.
 *
 * Shard to node: rendezvous (highest random weight) hashing over the live nodes. Every
 * node computes the same answer from the same member list, and when a node joins or
 * leaves only the shards that it wins or held move (about 1/N of them).
 */

const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A 32-bit mix (murmur3 finaliser) so that neighbouring inputs spread evenly. */
const mix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export const shardOf = (room: string, shardCount: number): number => fnv1a(room.toLowerCase()) % shardCount

export const ownerOf = (shard: number, nodes: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestScore = -1
  for (const node of nodes) {
    const score = mix(fnv1a(node) ^ mix(shard + 1))
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node
      bestScore = score
    }
  }
  return best
}

/** The shards `node` should own given the live members. */
export const shardsOf = (node: string, nodes: ReadonlyArray<string>, shardCount: number): ReadonlyArray<number> => {
  const out: number[] = []
  for (let s = 0; s < shardCount; s++) if (ownerOf(s, nodes) === node) out.push(s)
  return out
}
