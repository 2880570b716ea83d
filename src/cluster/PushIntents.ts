/**
 * Push intents: after a message is committed, every member other than the sender who has
 * no live socket anywhere in the cluster gets an intent on `chat.push.<user>` (JetStream,
 * so a push worker consumes durably). The intent names the message; it carries no body,
 * so message text never leaves the store through this path. Published off the commit
 * path: a slow or failing JetStream delays no ack.
 */
import { Effect } from "effect"
import type { JetStreamClient } from "nats"
import type { Presence } from "../chat/Presence.ts"
import type { ChatEvent, Message, Role, RoomId, UserId } from "../domain/model.ts"
import { bytesToBase64, toBase64Url, utf8 } from "../util/base64.ts"
import { describe } from "./Nats.ts"
import type { Subjects } from "./subjects.ts"
import * as M from "../metrics/metrics.ts"

export const userToken = (user: string) => toBase64Url(bytesToBase64(utf8.encode(user)))

export const makePushIntents =
  (js: JetStreamClient, presence: Presence, subjects: Subjects) =>
  (room: RoomId, events: ReadonlyArray<ChatEvent>, members: ReadonlyMap<UserId, Role>): Effect.Effect<void> =>
    Effect.asVoid(Effect.forkDaemon(Effect.gen(function* () {
      const created = events.filter((e) => e.kind === "message.created")
      if (created.length === 0) return
      const online = yield* presence.onlineUsers([...members.keys()])
      const offline = [...members.keys()].filter((u) => !online.has(u))
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
          Effect.tryPromise(() => js.publish(subjects.push(userToken(intent.user)), JSON.stringify(intent))).pipe(
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
    })))
