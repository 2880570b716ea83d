/**
 * The push worker: claims intents from the store's queue (storage/PushQueue.ts), decides who
 * to notify, sends through the providers, and acks.
 *
 * Per claim (each claimed room with all its settled intents, see CHAT_PUSH_SETTLE_MS):
 *   1. one store call (ChatStore.pushAudience) answers every claimed room's members now and
 *      their devices. Candidates: the members minus those presence says are looking
 *      (CHAT_PUSH_SUPPRESS); presence is not asked about a room none of whose members has a
 *      device. The rooms gone since, and those with no candidate device, have nobody to
 *      notify: their intents are acked together, in one call. That is the common case, and
 *      it costs the same three statements (claim, lookup, ack) for one room or a hundred.
 * Then per room that has candidate devices:
 *   2. read the messages of the intents' seq ranges back (through the encryption layer, so a
 *      preview can be taken when it is switched on); recipients: the candidates minus anyone
 *      who sent every one of the messages;
 *   3. per device, the messages after the device's notified seq (push_sent) and not its own
 *      user's: one notification for all of them, collapsed per room by the provider;
 *   4. Sent: the device's notified seq is raised. Dead: the token is removed. Failed: given
 *      up for this message (logged, counted). Retry: the room's intents go back to the queue
 *      for later (exponential backoff, or Retry-After when longer); devices already
 *      notified are skipped next time, by their notified seq.
 * An intent is acked only once its room is decided; a store error before that leaves it
 * leased, and it comes back after the lease.
 *
 * Idempotence: a redelivered intent notifies a device again only if the previous delivery
 * sent but died before raising the notified seq; that repeat carries the same collapse key,
 * so the device replaces the notification instead of showing a second one (docs/push.md).
 */
import { Clock, Duration, Effect, Either, Schedule } from "effect"
import type { Presence } from "../chat/Presence.ts"
import type { PushSuppress } from "../config/ChatConfig.ts"
import type { Device, Message, Platform, RoomId, UserId } from "../../core/model.ts"
import type { ChatStore, PushAudience } from "../../storage/ChatStore.ts"
import type { PushIntent } from "../../storage/PushQueue.ts"
import { bytesToBase64, toBase64Url, utf8 } from "../../core/util/base64.ts"
import * as PM from "./metrics.ts"
import type { Notification, PushProvider, SendOutcome } from "./Provider.ts"

export interface PushWorkerOptions {
  readonly pollMs: number
  readonly settleMs: number
  readonly leaseMs: number
  readonly maxAttempts: number
  readonly retryBaseMs: number
  readonly retryMaxMs: number
  readonly suppress: PushSuppress
  readonly previewChars: number
  /** Rooms claimed and delivered at once. */
  readonly rooms: number
  /** Sends in flight at once per room. */
  readonly sendConcurrency: number
}

export interface PushWorkerDeps {
  /** With encryption: message bodies read back are plaintext (previews). */
  readonly store: ChatStore
  /** Absent (a standalone worker without Redis): nobody counts as looking. */
  readonly presence?: Presence
  readonly providers: ReadonlyArray<PushProvider>
  readonly options: PushWorkerOptions
}

/** What one pass over a room did (tests read it; the loop only logs). */
export interface RoomReport {
  readonly room: RoomId
  readonly sent: number
  readonly pruned: number
  readonly failed: number
  readonly retried: number
}

/** A device's key in push_sent: a hash of its token, so the table holds no token. */
const recipientKey = async (token: string): Promise<string> =>
  toBase64Url(bytesToBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(token))))).slice(0, 32)

/** The first `n` characters (code points, so no surrogate is cut in half), with an ellipsis if cut. */
export const truncatePreview = (text: string, n: number): string => {
  const chars = Array.from(text)
  return chars.length <= n ? text : `${chars.slice(0, n).join("")}…`
}

export const backoffMs = (attempts: number, baseMs: number, maxMs: number): number =>
  Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(30, attempts - 1)))

/** The members who could be notified in a room, and their devices (none: nobody to notify). */
interface Candidates {
  readonly users: ReadonlyArray<UserId>
  readonly devices: ReadonlyArray<Device>
}

const NOBODY: Candidates = { users: [], devices: [] }

const idleReport = (room: RoomId): RoomReport => ({ room, sent: 0, pruned: 0, failed: 0, retried: 0 })

/** A store call failed before these rooms' intents were acked or put back: they stay leased, and come back after the lease. */
const leftLeased = (rooms: number, e: unknown) =>
  Effect.logWarning("push: delivery failed; the intents return after their lease").pipe(
    Effect.annotateLogs({ rooms, error: String((e as { _tag?: string })._tag ?? e) })
  )

export const makePushWorker = (deps: PushWorkerDeps) => {
  const { options, store } = deps
  const providers = new Map<Platform, PushProvider>(deps.providers.map((p) => [p.platform, p]))
  const missingProvider = new Set<Platform>()

  const quietUsers = (room: RoomId, members: ReadonlyArray<UserId>): Effect.Effect<ReadonlySet<UserId>> => {
    if (deps.presence === undefined || options.suppress === "off") return Effect.succeed(new Set())
    return options.suppress === "room"
      ? Effect.map(deps.presence.online(room), (users) => new Set(users))
      : deps.presence.onlineUsers(members)
  }

  const send = (provider: PushProvider, token: string, n: Notification): Effect.Effect<SendOutcome> =>
    Effect.promise(() =>
      provider.send(token, n).catch((e: unknown): SendOutcome => ({ _tag: "Retry", reason: `provider threw: ${(e as Error)?.name}` }))
    )

  /**
   * Who in the room could be notified at all: the members presence does not report as looking,
   * and their devices. Decided before any message is read back and decrypted: most rooms have
   * nobody to notify, and reading them would cost a query and a decryption per message for
   * nothing. Without any device in the room presence cannot change that, so it is not asked.
   */
  const candidatesOf = (room: RoomId, audience: PushAudience | undefined): Effect.Effect<Candidates> => {
    if (audience === undefined || audience.devices.length === 0) return Effect.succeed(NOBODY)
    return Effect.map(quietUsers(room, audience.members), (quiet) => {
      const users = audience.members.filter((u) => !quiet.has(u))
      const kept = new Set(users)
      return { users, devices: audience.devices.filter((d) => kept.has(d.user)) }
    })
  }

  /** A room with candidate devices: its messages, the sends, and the ack or retry of its intents. */
  const deliverRoom = (room: RoomId, intents: ReadonlyArray<PushIntent>, candidates: Candidates) =>
    Effect.gen(function* () {
      const report = { room, sent: 0, pruned: 0, failed: 0, retried: 0 }
      const from = Math.min(...intents.map((i) => i.fromSeq))
      const to = Math.max(...intents.map((i) => i.toSeq))
      const inRange = (seq: number) => intents.some((i) => seq >= i.fromSeq && seq <= i.toSeq)
      const messages = (yield* store.events(room, from - 1, to, to - from + 1))
        .filter((e) => e.kind === "message.created" && inRange(e.seq))
        .map((e) => e.data as Message)
        .filter((m) => m.deleted !== true)
      if (messages.length === 0) {
        yield* store.push.ack(intents)
        return report
      }
      const recipients = new Set(candidates.users.filter((u) => messages.some((m) => m.sender !== u)))
      const devices = candidates.devices.filter((d) => recipients.has(d.user))
      const keyed = yield* Effect.promise(() => Promise.all(devices.map(async (d) => ({ device: d, key: await recipientKey(d.token) }))))
      const notified = keyed.length === 0 ? new Map<string, number>() : yield* store.push.sentUpTo(room, keyed.map((k) => k.key))
      const retries: Array<{ readonly provider: Platform; readonly afterMs: number }> = []

      yield* Effect.forEach(
        keyed,
        ({ device, key }) =>
          Effect.gen(function* () {
            const after = notified.get(key) ?? 0
            const fresh = messages.filter((m) => m.seq > after && m.sender !== device.user)
            const last = fresh[fresh.length - 1]
            if (last === undefined) return
            const provider = providers.get(device.platform)
            if (provider === undefined) {
              if (!missingProvider.has(device.platform)) {
                missingProvider.add(device.platform)
                yield* Effect.logWarning("push: a device's provider is not configured; its notifications are skipped").pipe(
                  Effect.annotateLogs({ provider: device.platform })
                )
              }
              return
            }
            const n: Notification = {
              room,
              sender: last.sender,
              seq: last.seq,
              count: fresh.length,
              ...(options.previewChars > 0 && last.body !== "" ? { preview: truncatePreview(last.body, options.previewChars) } : {})
            }
            const outcome = yield* send(provider, device.token, n)
            switch (outcome._tag) {
              case "Sent":
                report.sent++
                PM.count(provider.platform, "sent")
                yield* store.push.markSent(room, key, last.seq)
                return
              case "Dead":
                report.pruned++
                PM.count(provider.platform, "pruned")
                yield* store.unregisterDevice(device.user, device.token)
                yield* Effect.logInfo("push: removed a device token its provider reports dead").pipe(
                  Effect.annotateLogs({ provider: provider.platform, reason: outcome.reason })
                )
                return
              case "Failed":
                report.failed++
                PM.count(provider.platform, "failed")
                // Not retried: mark it so a redelivery of these intents does not try again.
                yield* store.push.markSent(room, key, last.seq)
                yield* Effect.logWarning("push: notification refused").pipe(
                  Effect.annotateLogs({ provider: provider.platform, reason: outcome.reason })
                )
                return
              case "Retry":
                report.retried++
                retries.push({ provider: provider.platform, afterMs: outcome.afterMs ?? 0 })
                yield* Effect.logDebug("push: notification to retry").pipe(
                  Effect.annotateLogs({ provider: provider.platform, reason: outcome.reason })
                )
                return
            }
          }),
        { concurrency: options.sendConcurrency, discard: true }
      )

      if (retries.length === 0) {
        yield* store.push.ack(intents)
        return report
      }
      const attempts = Math.max(...intents.map((i) => i.attempts))
      if (attempts >= options.maxAttempts) {
        yield* store.push.ack(intents)
        for (const r of retries) PM.count(r.provider, "failed")
        yield* Effect.logWarning("push: gave up on notifications after the last attempt").pipe(
          Effect.annotateLogs({ attempts, devices: retries.length })
        )
        return { ...report, failed: report.failed + report.retried, retried: 0 }
      }
      for (const r of retries) PM.count(r.provider, "retried")
      const now = yield* Clock.currentTimeMillis
      const delay = Math.max(Math.min(options.retryMaxMs, Math.max(...retries.map((r) => r.afterMs))), backoffMs(attempts, options.retryBaseMs, options.retryMaxMs))
      yield* store.push.retryAt(intents, now + delay)
      return report
    })

  /** One claim and its delivery: the rooms' reports, in claim order (empty when nothing was ready). */
  const runOnce: Effect.Effect<ReadonlyArray<RoomReport>, unknown> = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const claimed = yield* store.push.claim({ now, rooms: options.rooms, leaseMs: options.leaseMs, settleMs: options.settleMs })
    const byRoom = new Map<RoomId, Array<PushIntent>>()
    for (const i of claimed) {
      const list = byRoom.get(i.room)
      if (list === undefined) byRoom.set(i.room, [i])
      else list.push(i)
    }
    if (byRoom.size === 0) return []
    const rooms = [...byRoom.keys()]
    const audiences = yield* Effect.either(store.pushAudience(rooms))
    if (Either.isLeft(audiences)) {
      yield* leftLeased(rooms.length, audiences.left)
      return rooms.map(idleReport)
    }
    const decided = yield* Effect.forEach(
      byRoom,
      ([room, intents]) => Effect.map(candidatesOf(room, audiences.right.get(room)), (candidates) => ({ room, intents, candidates })),
      { concurrency: options.rooms }
    )
    // Nobody to notify (the room is gone, or none of its candidates has a device): decided
    // already, so these rooms' intents are acked at once, all in one call.
    const idle = decided.filter((d) => d.candidates.devices.length === 0)
    if (idle.length > 0) {
      yield* store.push.ack(idle.flatMap((d) => d.intents)).pipe(Effect.catchAll((e) => leftLeased(idle.length, e)))
    }
    const delivered = yield* Effect.forEach(
      decided.filter((d) => d.candidates.devices.length > 0),
      ({ candidates, intents, room }) =>
        deliverRoom(room, intents, candidates).pipe(
          Effect.catchAll((e) => Effect.as(leftLeased(1, e).pipe(Effect.annotateLogs({ room })), idleReport(room)))
        ),
      { concurrency: options.rooms }
    )
    const reports = new Map<RoomId, RoomReport>(delivered.map((r) => [r.room, r]))
    return rooms.map((room) => reports.get(room) ?? idleReport(room))
  })

  const refreshGauges = Effect.gen(function* () {
    const stats = yield* store.push.stats
    const now = yield* Clock.currentTimeMillis
    PM.queueDepth.unsafeUpdate(stats.depth, [])
    PM.oldestIntentAge.unsafeUpdate(stats.oldestAt === undefined ? 0 : Math.max(0, (now - Date.parse(stats.oldestAt)) / 1000), [])
  }).pipe(Effect.catchAll(() => Effect.void))

  /** Runs until interrupted: claims while there is work, polls every pollMs when idle. */
  const run: Effect.Effect<never> = Effect.gen(function* () {
    yield* Effect.forkScoped(Effect.repeat(refreshGauges, Schedule.spaced(Duration.seconds(5))))
    return yield* Effect.forever(
      runOnce.pipe(
        Effect.flatMap((reports) => (reports.length === 0 ? Effect.sleep(Duration.millis(options.pollMs)) : Effect.void)),
        Effect.catchAll((e) =>
          Effect.zipRight(
            Effect.logWarning("push: claim failed; retrying").pipe(Effect.annotateLogs({ error: String((e as { _tag?: string })._tag ?? e) })),
            Effect.sleep(Duration.millis(Math.max(options.pollMs, 1000)))
          )
        )
      )
    )
  }).pipe(Effect.scoped)

  return { runOnce, run, refreshGauges }
}
