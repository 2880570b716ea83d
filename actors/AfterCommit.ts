/**
 * What happens after a room commits a batch, in the order it happens: push intents for
 * offline members (off the commit path), the shared membership cache dropped when members
 * changed, every event fanned out to the room's subscribers in seq order, the sent counter.
 * The actor calls it once per committed batch, before the batch's callers are answered.
 *
 * The edges (the room bus, JetStream, Redis, metrics) live in src/ and are handed in as
 * `AfterCommitPorts` by the node's composition (src/server.ts).
 */
import { Context, Effect, Layer } from "effect"
import type { ChatEvent, Role, RoomId, RoomKind, UserId } from "../core/model.ts"

/**
 * Plain code, called once per committed batch. Answers undefined when everything is done, or
 * the Effect still to run (asynchronous work the batch's callers must wait for: dropping a
 * shared membership cache after a membership change); the actor runs it, then answers.
 */
export type OnCommitted = (
  room: RoomId,
  kind: RoomKind,
  events: ReadonlyArray<ChatEvent>,
  members: ReadonlyMap<UserId, Role>
) => Effect.Effect<void> | undefined

export interface AfterCommitPorts {
  /** Deliver one committed event to the room's subscribers (every node's gateway). */
  readonly publish: (room: RoomId, event: ChatEvent) => void
  /** Clustered mode: notify members with no live socket; must not delay the caller. */
  readonly pushIntents?: (room: RoomId, kind: RoomKind, events: ReadonlyArray<ChatEvent>, members: ReadonlyMap<UserId, Role>) => void
  /** With a shared membership cache: forget the room's cached members. */
  readonly invalidateMembers?: (room: RoomId) => Effect.Effect<void>
  /** `n` messages were committed in a room of `kind` (plain code: called per batch). */
  readonly countSent: (kind: RoomKind, n: number) => void
}

export interface AfterCommit {
  readonly committed: OnCommitted
}

export class AfterCommitTag extends Context.Tag("chat/AfterCommit")<AfterCommitTag, AfterCommit>() {}

const changesMembers = (e: ChatEvent) => e.kind === "member.joined" || e.kind === "member.left"

export const make = (ports: AfterCommitPorts): AfterCommit => {
  const fanOut = (room: RoomId, kind: RoomKind, events: ReadonlyArray<ChatEvent>, members: ReadonlyMap<UserId, Role>) => {
    ports.pushIntents?.(room, kind, events, members)
    let sent = 0
    for (const event of events) {
      if (event.kind === "message.created") sent++
      ports.publish(room, event)
    }
    if (sent > 0) ports.countSent(kind, sent)
  }
  const invalidate = ports.invalidateMembers
  return {
    committed: (room, kind, events, members) => {
      // The cache is dropped before anyone can see the change (a member's first frame after
      // the event must not be authorized from the old membership).
      if (invalidate !== undefined && events.some(changesMembers)) {
        return Effect.zipRight(invalidate(room), Effect.sync(() => fanOut(room, kind, events, members)))
      }
      fanOut(room, kind, events, members)
      return undefined
    }
  }
}

export const layer = (ports: AfterCommitPorts): Layer.Layer<AfterCommitTag> => Layer.succeed(AfterCommitTag, make(ports))
