/**
 * Push intents: after a message is committed, every member other than the sender who has
 * no live socket anywhere in the cluster gets an intent on `chat.push.<user>` (JetStream,
 * so a push worker consumes durably). The intent names the message; it carries no body,
 * so message text never leaves the store through this path. Published off the commit
 * path: a slow or failing JetStream delays no ack.
 */
import { Context, Effect, FiberSet, Layer } from "effect"
import type { JetStreamClient } from "nats"
import { PresenceTag, type Presence } from "../chat/Presence.ts"
import type { ChatEvent, Message, Role, RoomId, RoomKind, UserId } from "../../core/model.ts"
import { bytesToBase64, toBase64Url, utf8 } from "../../core/util/base64.ts"
import { describe, Nats } from "./Nats.ts"
import type { Subjects } from "./subjects.ts"
import * as M from "../metrics/metrics.ts"
import { pushIntentPayload } from "../protocol/cluster.ts"

export const userToken = (user: string) => toBase64Url(bytesToBase64(utf8.encode(user)))

export type PushIntents = (
  room: RoomId,
  kind: RoomKind,
  events: ReadonlyArray<ChatEvent>,
  members: ReadonlyMap<UserId, Role>
) => void

/** Clustered mode only: present in the context when intents have a JetStream to go to. */
export class PushIntentsTag extends Context.Tag("chat/PushIntents")<PushIntentsTag, PushIntents>() {}

/**
 * `fork` starts the publishing fiber in the layer's FiberSet: off the commit path, and
 * interrupted when the node stops (an intent not yet published then is lost, as one whose
 * publish failed: the store's push queue, src/push/, is the durable path).
 */
export const makePushIntents =
  (js: JetStreamClient, presence: Presence, subjects: Subjects, fork: (effect: Effect.Effect<void>) => unknown): PushIntents =>
  (room, _kind, events, members) => {
    // Plain: called on the commit path; a fiber only for a batch that created messages.
    const created = events.filter((e) => e.kind === "message.created")
    if (created.length === 0) return
    // Who could need an intent: a member who did not send every message of the batch (no
    // intent for one's own message), with no socket on this node (one here is online). Only
    // those are looked up, and a batch with none costs no lookup and no fiber.
    const candidates: Array<UserId> = []
    for (const user of members.keys()) {
      if (presence.connectedHere(user)) continue
      if (created.some((e) => (e.data as Message).sender !== user)) candidates.push(user)
    }
    if (candidates.length === 0) return
    fork(Effect.gen(function* () {
      const online = yield* presence.onlineUsers(candidates)
      const offline = candidates.filter((u) => !online.has(u))
      if (offline.length === 0) return
      const intents = created.flatMap((e) => {
        const m = e.data as Message
        return offline
          .filter((user) => user !== m.sender)
          .map((user) => ({ user, room, seq: e.seq, messageId: m.id, sender: m.sender, ts: e.ts, kind: e.kind }))
      })
      yield* Effect.forEach(
        intents,
        (intent) =>
          Effect.tryPromise(() => js.publish(subjects.push(userToken(intent.user)), pushIntentPayload(intent))).pipe(
            Effect.zipRight(Effect.sync(() => M.pushPublished.unsafeUpdate(1, []))),
            Effect.catchAll((e) =>
              Effect.zipRight(
                Effect.sync(() => M.pushFailed.unsafeUpdate(1, [])),
                Effect.logWarning("push intent not published").pipe(Effect.annotateLogs({ room, error: describe(e.error) }))
              )
            )
          ),
        { concurrency: 8, discard: true }
      )
    }))
  }

export const layer: Layer.Layer<PushIntentsTag, never, Nats | PresenceTag> = Layer.scoped(
  PushIntentsTag,
  Effect.gen(function* () {
    const nats = yield* Nats
    const fork = yield* FiberSet.makeRuntime<never>()
    return makePushIntents(nats.js, yield* PresenceTag, nats.subjects, fork)
  })
)
