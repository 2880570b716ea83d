/**
 * The wire protocol's shapes as the client sees them (docs/protocol.md). Plain types, no
 * runtime dependency: the server's Schemas live in src/protocol/ and core/, and
 * tests/sdk/drift.test.ts checks these types and lists against them so they cannot drift.
 */

export type RoomKind = "direct" | "group"
export type Role = "owner" | "admin" | "member"

export const ERROR_CODES = [
  "bad_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "too_large",
  "rate_limited",
  "conflict",
  "unavailable",
  "timeout",
  "internal"
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

export interface Member {
  readonly user: string
  readonly role: Role
}

export interface Message {
  readonly seq: number
  readonly id: string
  readonly room: string
  readonly sender: string
  readonly body: string
  readonly ts: string
  readonly replyTo?: number
  readonly clientMsgId?: string
  readonly editedAt?: string
  readonly deleted?: boolean
  /** Only in history: emoji → users who reacted. Events carry `reaction.*` instead. */
  readonly reactions?: Readonly<Record<string, ReadonlyArray<string>>>
}

export interface Room {
  readonly id: string
  readonly kind: RoomKind
  readonly name?: string
  readonly members: ReadonlyArray<Member>
  readonly createdAt: string
  readonly lastSeq: number
}

export interface RoomSummary {
  readonly id: string
  readonly kind: RoomKind
  readonly name?: string
  readonly pinned: boolean
  readonly unread: number
  readonly lastActivityAt: string
  readonly lastMessage?: { readonly seq: number; readonly sender: string; readonly body: string; readonly ts: string }
}

export interface Ack {
  readonly room: string
  readonly seq: number
  readonly messageId?: string
  readonly ts: string
}

export const EVENT_KINDS = [
  "message.created",
  "message.edited",
  "message.deleted",
  "reaction.added",
  "reaction.removed",
  "member.joined",
  "member.left",
  "room.updated"
] as const
export type EventKind = (typeof EVENT_KINDS)[number]

export interface EventData {
  readonly "message.created": Message
  readonly "message.edited": Message
  readonly "message.deleted": Message
  readonly "reaction.added": { readonly messageSeq: number; readonly emoji: string; readonly user: string }
  readonly "reaction.removed": { readonly messageSeq: number; readonly emoji: string; readonly user: string }
  readonly "member.joined": Member
  readonly "member.left": Member
  readonly "room.updated": { readonly name: string }
}

/** A committed event of a room: `data` is typed by `kind` (narrow with `switch (e.kind)`). */
export type ChatEvent = {
  [K in EventKind]: {
    readonly room: string
    readonly seq: number
    readonly ts: string
    readonly kind: K
    readonly actor: string
    readonly data: EventData[K]
  }
}[EventKind]

/** Frames a client sends (src/protocol/frames.ts decodes them on the server). */
export type ClientFrame =
  | { type: "subscribe"; id?: string; room: string; since?: number }
  | { type: "unsubscribe"; id?: string; room: string }
  | { type: "send"; id?: string; room: string; clientMsgId: string; body: string; replyTo?: number }
  | { type: "edit"; id?: string; room: string; seq: number; body: string }
  | { type: "delete"; id?: string; room: string; seq: number }
  | { type: "react"; id?: string; room: string; seq: number; emoji: string; remove?: boolean }
  | { type: "read"; id?: string; room: string; seq: number }
  | { type: "typing"; id?: string; room: string }
  | { type: "history"; id?: string; room: string; before?: number; limit?: number }
  | { type: "ping"; id?: string }

/** Frames the server sends. */
export type ServerFrame =
  | { type: "subscribed"; id?: string; room: string; seq: number; truncated?: true }
  | { type: "unsubscribed"; id?: string; room: string; reason?: string }
  | ({ type: "ack"; id?: string } & Ack)
  | { type: "history"; id?: string; room: string; messages: Message[]; hasMore: boolean }
  | { type: "pong"; id?: string }
  | ({ type: "event" } & ChatEvent)
  | { type: "read"; room: string; user: string; seq: number }
  | { type: "typing"; room: string; user: string }
  | { type: "presence"; room: string; user: string; online: boolean }
  | { type: "error"; id?: string; code: ErrorCode; message: string; retryAfterMs?: number }

/** WebSocket close codes the server uses (src/protocol/errorMap.ts). */
export const CLOSE_CODES = { goingAway: 1001, policy: 1008, internal: 1011 } as const
