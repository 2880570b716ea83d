/**
 * The room as its actor sees it: kind, name, head and members. What a snapshot command
 * answers and what the chat service checks membership against.
 */
import type { Role, RoomId, RoomKind, UserId } from "./model.ts"

export interface RoomSnapshot {
  readonly room: RoomId
  readonly kind: RoomKind
  readonly name?: string
  readonly createdAt: string
  readonly lastSeq: number
  readonly members: ReadonlyMap<UserId, Role>
}
