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

/** Slots of a new or drained mailbox; a drained ring larger than SHRINK_ABOVE goes back to this. */
const INITIAL_SLOTS = 4
const SHRINK_ABOVE = 64

/**
 * A bounded FIFO with one consumer. `offer` never waits: a full or shut mailbox answers
 * false and the caller fails fast (MailboxFull). `takeUpTo` is synchronous; `ready` waits
 * for the first item (or shutdown) and is the only Effect, paid once per batch at most.
 */
export class Mailbox<A> {
  /**
   * A ring: `size` items from `head`, wrapping at the end of `ring`. It grows (doubling) when
   * full and keeps its slots when drained, so a busy room's steady offer-and-take allocates
   * nothing but the batches taken (a plain array reset on every drain reallocated its
   * storage on the next offer). It shrinks back once drained after a burst.
   */
  private ring: Array<A | undefined> = new Array(INITIAL_SLOTS)
  private head = 0
  private count = 0
  private waiter: ((open: boolean) => void) | null = null
  private shut = false

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.count
  }

  get isShutdown(): boolean {
    return this.shut
  }

  offer(item: A): boolean {
    if (this.shut || this.count >= this.capacity) return false
    if (this.count === this.ring.length) this.resize(this.ring.length * 2)
    const at = this.head + this.count
    this.ring[at < this.ring.length ? at : at - this.ring.length] = item
    this.count++
    const w = this.waiter
    if (w !== null) {
      this.waiter = null
      w(true)
    }
    return true
  }

  /** Up to `max` items, oldest first (none when empty). */
  takeUpTo(max: number): Array<A> {
    const n = Math.min(max, this.count)
    const out = new Array<A>(n)
    const ring = this.ring
    let at = this.head
    for (let i = 0; i < n; i++) {
      out[i] = ring[at] as A
      ring[at] = undefined
      if (++at === ring.length) at = 0
    }
    this.head = at
    this.count -= n
    if (this.count === 0 && ring.length > SHRINK_ABOVE) {
      this.ring = new Array(INITIAL_SLOTS)
      this.head = 0
    }
    return out
  }

  /** Moves the items to a ring of `slots` (>= count), oldest at 0. */
  private resize(slots: number): void {
    const next = new Array<A | undefined>(slots)
    for (let i = 0, at = this.head; i < this.count; i++) {
      next[i] = this.ring[at]
      if (++at === this.ring.length) at = 0
    }
    this.ring = next
    this.head = 0
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
