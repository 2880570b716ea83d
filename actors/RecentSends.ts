/**
 * The acks of a room actor's latest sends, so that a resend is answered from memory (its
 * first ack) without a commit. Keyed by the strings as sent, not as stored (core/plan.ts
 * `idempotencyKey`): a hit needs equal strings, whose stored forms are equal too; two keys
 * stored alike but sent differently miss here and are answered by the store's rule.
 *
 * A map per sender of maps per clientMsgId, not one map of joined strings: a joined key was a
 * new string per lookup and per insert, each flattened and hashed again, where the strings of
 * the frame hash once. The pairs in the order remembered sit in a ring beside the maps, so the
 * oldest is evicted in O(1) (a map's own iterator walks past every deleted entry at its front).
 */
import type { Ack } from "../core/model.ts"

export class RecentSends {
  private readonly bySender = new Map<string, Map<string, Ack>>()
  // The ring, grown as sends come (a quiet room keeps short lists), then overwritten in turn.
  private readonly senders: Array<string> = []
  private readonly keys: Array<string> = []
  private next = 0

  constructor(readonly capacity: number) {}

  get(sender: string, clientMsgId: string): Ack | undefined {
    return this.bySender.get(sender)?.get(clientMsgId)
  }

  /** A pair remembered twice takes two slots: the older one's eviction drops it a little early. */
  remember(sender: string, clientMsgId: string, ack: Ack): void {
    if (this.keys.length < this.capacity) {
      this.senders.push(sender)
      this.keys.push(clientMsgId)
    } else {
      const i = this.next
      const evictedSender = this.senders[i]!
      const acks = this.bySender.get(evictedSender)
      if (acks !== undefined) {
        acks.delete(this.keys[i]!)
        if (acks.size === 0) this.bySender.delete(evictedSender)
      }
      this.senders[i] = sender
      this.keys[i] = clientMsgId
      this.next = i + 1 === this.capacity ? 0 : i + 1
    }
    let acks = this.bySender.get(sender)
    if (acks === undefined) this.bySender.set(sender, (acks = new Map()))
    acks.set(clientMsgId, ack)
  }
}
