/**
 * The domain model as protobuf messages (proto/chat/v1/chat.proto). Only shapes change
 * here; every value comes from the chat service as the WebSocket and REST gateways get it.
 */
import type { MessageInitShape } from "@bufbuild/protobuf"
import type { Ack, ChatEvent, Device, EventKind, Message, Platform, Role, Room, RoomKind, RoomSummary } from "../../core/model.ts"
import {
  EventKind as PbEventKind,
  Role as PbRole,
  RoomKind as PbRoomKind,
  type AckSchema,
  type EventSchema,
  type MessageSchema,
  type RoomSchema,
  type RoomSummarySchema
} from "../gen/chat/v1/chat_pb.ts"
import { Platform as PbPlatform, type DeviceSchema } from "../gen/tokens/v1/tokens_pb.ts"

const roomKinds: Record<RoomKind, PbRoomKind> = { direct: PbRoomKind.DIRECT, group: PbRoomKind.GROUP }
const roles: Record<Role, PbRole> = { owner: PbRole.OWNER, admin: PbRole.ADMIN, member: PbRole.MEMBER }
const eventKinds: Record<EventKind, PbEventKind> = {
  "message.created": PbEventKind.MESSAGE_CREATED,
  "message.edited": PbEventKind.MESSAGE_EDITED,
  "message.deleted": PbEventKind.MESSAGE_DELETED,
  "reaction.added": PbEventKind.REACTION_ADDED,
  "reaction.removed": PbEventKind.REACTION_REMOVED,
  "member.joined": PbEventKind.MEMBER_JOINED,
  "member.left": PbEventKind.MEMBER_LEFT,
  "room.updated": PbEventKind.ROOM_UPDATED
}
const platforms: Record<Platform, PbPlatform> = { fcm: PbPlatform.FCM, apns: PbPlatform.APNS, webpush: PbPlatform.WEBPUSH }

/** The domain platform of a protobuf enum value; undefined for UNSPECIFIED or unknown. */
export const platformOf = (p: PbPlatform): Platform | undefined =>
  (Object.keys(platforms) as Array<Platform>).find((k) => platforms[k] === p)

export const room = (r: Room): MessageInitShape<typeof RoomSchema> => ({
  id: r.id,
  kind: roomKinds[r.kind],
  ...(r.name !== undefined ? { name: r.name } : {}),
  members: r.members.map((m) => ({ user: m.user, role: roles[m.role] })),
  createdAt: r.createdAt,
  lastSeq: BigInt(r.lastSeq)
})

export const summary = (r: RoomSummary): MessageInitShape<typeof RoomSummarySchema> => ({
  id: r.id,
  kind: roomKinds[r.kind],
  ...(r.name !== undefined ? { name: r.name } : {}),
  pinned: r.pinned,
  unread: BigInt(r.unread),
  lastActivityAt: r.lastActivityAt,
  ...(r.lastMessage !== undefined ? { lastMessage: { ...r.lastMessage, seq: BigInt(r.lastMessage.seq) } } : {})
})

export const message = (m: Message): MessageInitShape<typeof MessageSchema> => ({
  seq: BigInt(m.seq),
  id: m.id,
  room: m.room,
  sender: m.sender,
  body: m.body,
  ts: m.ts,
  ...(m.replyTo !== undefined ? { replyTo: BigInt(m.replyTo) } : {}),
  ...(m.clientMsgId !== undefined ? { clientMsgId: m.clientMsgId } : {}),
  ...(m.editedAt !== undefined ? { editedAt: m.editedAt } : {}),
  deleted: m.deleted === true,
  reactions: Object.entries(m.reactions ?? {}).map(([emoji, users]) => ({ emoji, users: [...users] }))
})

export const ack = (a: Ack): MessageInitShape<typeof AckSchema> => ({
  room: a.room,
  seq: BigInt(a.seq),
  ...(a.messageId !== undefined ? { messageId: a.messageId } : {}),
  ts: a.ts
})

export const event = (e: ChatEvent): MessageInitShape<typeof EventSchema> => {
  const base = { room: e.room, seq: BigInt(e.seq), ts: e.ts, kind: eventKinds[e.kind], actor: e.actor }
  switch (e.kind) {
    case "message.created":
    case "message.edited":
    case "message.deleted":
      return { ...base, data: { case: "message", value: message(e.data as Message) } }
    case "reaction.added":
    case "reaction.removed": {
      const d = e.data as { messageSeq: number; emoji: string; user: string }
      return { ...base, data: { case: "reaction", value: { messageSeq: BigInt(d.messageSeq), emoji: d.emoji, user: d.user } } }
    }
    case "member.joined":
    case "member.left": {
      const d = e.data as { user: string; role?: Role }
      return { ...base, data: { case: "member", value: { user: d.user, ...(d.role ? { role: roles[d.role] } : {}) } } }
    }
    case "room.updated":
      return { ...base, data: { case: "roomUpdate", value: { name: String((e.data as { name?: unknown }).name ?? "") } } }
  }
}

export const device = (d: Device): MessageInitShape<typeof DeviceSchema> => ({
  token: d.token,
  platform: platforms[d.platform],
  createdAt: d.createdAt
})
