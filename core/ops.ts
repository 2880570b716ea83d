/**
 * The writes a room actor commits. Every op that succeeds consumes one or more seqs
 * (AddMembers: one per user actually added) and yields events; the rules that decide
 * whether an op succeeds live in ./plan.ts, shared by every store.
 */
import type { Ack, ChatEvent, UserId } from "./model.ts"
import type { ChatError } from "./errors.ts"

export type WriteOp =
  | {
      readonly _tag: "Send"
      readonly actor: UserId
      readonly messageId: string
      readonly clientMsgId: string
      readonly body: string
      readonly replyTo?: number
      /**
       * Sent by a service as the system: `actor` is SYSTEM_SENDER (core/model.ts), which is
       * no member, and the room's membership is not required. Only the server API sets it.
       */
      readonly system?: boolean
    }
  | { readonly _tag: "Edit"; readonly actor: UserId; readonly seq: number; readonly body: string }
  | { readonly _tag: "Delete"; readonly actor: UserId; readonly seq: number }
  | {
      readonly _tag: "React"
      readonly actor: UserId
      readonly seq: number
      readonly emoji: string
      readonly remove: boolean
    }
  | { readonly _tag: "AddMembers"; readonly actor: UserId; readonly users: ReadonlyArray<UserId> }
  | { readonly _tag: "RemoveMember"; readonly actor: UserId; readonly user: UserId }
  | { readonly _tag: "Rename"; readonly actor: UserId; readonly name: string }

/**
 * The outcome of one op in a committed batch:
 * - Committed: new events (in seq order) and the ack;
 * - Duplicate: an idempotent resend; the first send's ack, nothing stored;
 * - Rejected: the op broke a rule; nothing stored, the rest of the batch is unaffected.
 */
export type OpResult =
  | { readonly _tag: "Committed"; readonly ack: Ack; readonly events: ReadonlyArray<ChatEvent> }
  | { readonly _tag: "Duplicate"; readonly ack: Ack }
  | { readonly _tag: "Rejected"; readonly error: ChatError }
