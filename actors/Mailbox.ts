/**
 * What a room actor's mailbox holds, and the mailbox itself: a bounded plain array that the
 * registry offers to synchronously and the actor drains a batch at a time. Per message there
 * is no fiber, Deferred or Queue: an envelope carries a plain callback, called once with the
 * outcome; the actor waits (a plain callback, `wait`) only when the mailbox is empty.
 */
import { Effect } from "effect"
import type { ChatError } from "../core/errors.ts"
import type { RoomSnapshot } from "../core/snapshot.ts"
import type { OpResult, WriteOp } from "../core/ops.ts"

export type { RoomSnapshot }

/** Called exactly once: with an error, or with the outcome. */
export type Reply<A> = (error: ChatError | undefined, value?: A) => void

export type Envelope =
  | {
      readonly _tag: "Write"
      readonly op: WriteOp
      readonly reply: Reply<OpResult>
      /**
       * Set by the actor when it takes the write into a batch ("taken": its outcome is the
       * commit's), or by the registry when the caller's deadline passed first ("withdrawn":
       * the actor skips it, so the caller's `unavailable` means "not stored").
       */
      status?: "taken" | "withdrawn"
    }
  | { readonly _tag: "Snapshot"; readonly reply: Reply<RoomSnapshot> }
  /**
   * From the registry's housekeeping: the actor has had nothing to do for `idleMs`;
   * it passivates if nothing else is queued. (A nudge instead of a timeout on every
   * mailbox take: a timeout races two fibers, which cost ~85 µs per batch here.)
   */
  | { readonly _tag: "Idle" }

/**
 * A bounded FIFO with one consumer. `offer` never waits: a full or shut mailbox answers
 * false and the caller fails fast (MailboxFull). `takeUpTo` is synchronous; `ready` waits
 * for the first item (or shutdown) and is the only Effect, paid once per batch at most.
 */
export class Mailbox<A> {
  private items: Array<A> = []
  private head = 0
  private waiter: ((open: boolean) => void) | null = null
  private shut = false

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head
  }

  get isShutdown(): boolean {
    return this.shut
  }

  offer(item: A): boolean {
    if (this.shut || this.size >= this.capacity) return false
    this.items.push(item)
    const w = this.waiter
    if (w !== null) {
      this.waiter = null
      w(true)
    }
    return true
  }

  /** Up to `max` items, oldest first (none when empty). */
  takeUpTo(max: number): Array<A> {
    const n = Math.min(max, this.size)
    if (n === 0) return []
    const out = this.items.slice(this.head, this.head + n)
    this.head += n
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // Reclaim the consumed prefix now and then, not on every take.
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return out
  }

  takeAll(): Array<A> {
    return this.takeUpTo(this.size)
  }

  /** No more offers; a waiting `ready` answers false. Items still held stay takeable. */
  shutdown(): void {
    this.shut = true
    const w = this.waiter
    if (w !== null) {
      this.waiter = null
      w(false)
    }
  }

  /**
   * Plain form of `ready` for a caller that found the mailbox empty and open: `wake` is called
   * once, with true at the next offer or false at shutdown. One waiter at a time (the actor).
   */
  wait(wake: (open: boolean) => void): void {
    this.waiter = wake
  }

  /** Forget the waiter (its actor stopped). */
  cancelWait(): void {
    this.waiter = null
  }

  /** Succeeds with true once an item is held, or false once the mailbox is shut and empty. */
  readonly ready: Effect.Effect<boolean> = Effect.suspend(() => {
    if (this.size > 0) return Effect.succeed(true)
    if (this.shut) return Effect.succeed(false)
    return Effect.async<boolean>((resume) => {
      this.wait((open) => resume(Effect.succeed(open)))
      return Effect.sync(() => this.cancelWait())
    })
  })
}
