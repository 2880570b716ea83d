/**
 * The rules of a room, as one pure function shared by every store: given the room's head
 * (last seq, members) and what the batch's ops refer to, decide each op's outcome, assign
 * seqs gaplessly, and return the net set of rows to write. Stores only load and persist;
 * they never decide, so PostgreSQL, PGlite, ScyllaDB and memory behave the same.
 */
import type { Ack, ChatEvent, EventKind, Message, Role, RoomId, RoomKind, UserId } from "./model.ts"
import { isAdminRole, SYSTEM_SENDER } from "./model.ts"
import { BadRequest, Conflict, Forbidden, NotFound } from "./errors.ts"
import type { OpResult, WriteOp } from "./ops.ts"

/** A message as stored, as far as the rules need it. `body` is whatever the store holds. */
export interface StoredMessage {
  readonly seq: number
  readonly id: string
  readonly sender: UserId
  readonly body: string | null
  readonly ts: string
  readonly replyTo?: number | undefined
  readonly clientMsgId?: string | undefined
  readonly editedAt?: string | undefined
  readonly deleted: boolean
}

/** An event row. Message events point at their message (`targetSeq`); others carry `data`. */
export interface StoredEvent {
  readonly seq: number
  readonly kind: EventKind
  readonly actor: UserId
  readonly ts: string
  readonly targetSeq?: number | undefined
  readonly data?: unknown
}

export interface PlanInput {
  readonly room: RoomId
  readonly kind: RoomKind
  readonly lastSeq: number
  readonly members: ReadonlyMap<UserId, Role>
  readonly ops: ReadonlyArray<WriteOp>
  /** Messages named by the ops (edit/delete/react targets, replyTo), by seq. */
  readonly targets: ReadonlyMap<number, StoredMessage>
  /** Earlier sends of this batch's (sender, clientMsgId) pairs, keyed by idempotencyKey. */
  readonly sent: ReadonlyMap<string, StoredMessage>
  /** Existing reactions on the targets, keyed by reactionKey. */
  readonly reactions: ReadonlySet<string>
  readonly now: string
}

export interface Plan {
  readonly results: ReadonlyArray<OpResult>
  readonly lastSeq: number
  readonly messages: ReadonlyArray<StoredMessage>
  readonly events: ReadonlyArray<StoredEvent>
  /** Final body of each edited, still-present message. */
  readonly edits: ReadonlyArray<{ readonly seq: number; readonly body: string; readonly editedAt: string }>
  /** Messages to tombstone: body erased, `deleted` set. */
  readonly deletes: ReadonlyArray<number>
  readonly reactionsAdded: ReadonlyArray<Reaction>
  readonly reactionsRemoved: ReadonlyArray<Reaction>
  /** New members and members whose role changed. */
  readonly membersUpserted: ReadonlyArray<{ readonly user: UserId; readonly role: Role }>
  readonly membersRemoved: ReadonlyArray<UserId>
  readonly members: ReadonlyMap<UserId, Role>
  readonly name?: string | undefined
}

export interface Reaction {
  readonly seq: number
  readonly emoji: string
  readonly user: UserId
}

/**
 * Keyed as stored: a lone surrogate is stored as U+FFFD (it has no UTF-8 form), so the key
 * of "k\ud800" must equal the key of the row it became, or a resend would be planned as a
 * new message and collide in the database. The edge refuses such strings; this keeps a
 * store's own rule consistent whatever reaches it.
 */
export const idempotencyKey = (sender: string, clientMsgId: string) => `${asStored(sender)}\u0000${asStored(clientMsgId)}`
const LONE_SURROGATE = /\p{Cs}/u
const asStored = (s: string): string => (LONE_SURROGATE.test(s) ? s.replace(/\p{Cs}/gu, "\ufffd") : s)
export const reactionKey = (seq: number, emoji: string, user: string) => `${seq}\u0000${emoji}\u0000${user}`
const parseReactionKey = (key: string): Reaction => {
  const [seq, emoji, user] = key.split("\u0000")
  return { seq: Number(seq), emoji, user: user as UserId }
}

/** The seqs a batch's ops refer to, for the store to load before planning. */
export const referencedSeqs = (ops: ReadonlyArray<WriteOp>): ReadonlyArray<number> => {
  const seqs = new Set<number>()
  for (const op of ops) {
    if (op._tag === "Edit" || op._tag === "Delete" || op._tag === "React") seqs.add(op.seq)
    else if (op._tag === "Send" && op.replyTo !== undefined) seqs.add(op.replyTo)
  }
  return [...seqs]
}

export const sendKeys = (ops: ReadonlyArray<WriteOp>): ReadonlyArray<{ sender: UserId; clientMsgId: string }> =>
  ops.flatMap((op) => (op._tag === "Send" ? [{ sender: op.actor, clientMsgId: op.clientMsgId }] : []))

/** The Message a message event carries, built from a stored row (body already decided). */
export const toMessage = (room: RoomId, m: StoredMessage, body: string): Message => ({
  seq: m.seq,
  id: m.id,
  room,
  sender: m.sender,
  body: m.deleted ? "" : body,
  ts: m.ts,
  ...(m.replyTo !== undefined ? { replyTo: m.replyTo } : {}),
  ...(m.clientMsgId !== undefined ? { clientMsgId: m.clientMsgId } : {}),
  ...(m.editedAt !== undefined ? { editedAt: m.editedAt } : {}),
  ...(m.deleted ? { deleted: true } : {})
})

const notFound = () => new NotFound({ message: "room not found" })
const noMessage = () => new NotFound({ message: "message not found" })
const wasDeleted = () => new Conflict({ message: "message was deleted" })

export const plan = (input: PlanInput): Plan => {
  const { room, now } = input
  let seq = input.lastSeq
  const members = new Map(input.members)
  const messages = new Map<number, StoredMessage>(input.targets)
  const sent = new Map(input.sent)
  const reactions = new Set(input.reactions)
  const newMessages: Array<StoredMessage> = []
  const events: Array<StoredEvent> = []
  const edits = new Map<number, { seq: number; body: string; editedAt: string }>()
  const deletes = new Set<number>()
  let name: string | undefined = undefined
  const results: Array<OpResult> = []

  const emit = (kind: EventKind, actor: UserId, data: unknown, targetSeq?: number): ChatEvent => {
    seq += 1
    events.push({ seq, kind, actor, ts: now, targetSeq, data: targetSeq === undefined ? data : undefined })
    return { room, seq, ts: now, kind, actor, data }
  }
  const ack = (s: number, messageId?: string): Ack => ({
    room,
    seq: s,
    ts: now,
    ...(messageId !== undefined ? { messageId } : {})
  })
  const ackOf = (m: StoredMessage): Ack => ({ room, seq: m.seq, messageId: m.id, ts: m.ts })

  for (const op of input.ops) {
    const role = members.get(op.actor)
    // A send as the system (server API) goes to any room; the reserved sender is no member.
    const asSystem = op._tag === "Send" && op.system === true && op.actor === SYSTEM_SENDER
    if (role === undefined && !asSystem) {
      results.push({ _tag: "Rejected", error: notFound() })
      continue
    }
    switch (op._tag) {
      case "Send": {
        const key = idempotencyKey(op.actor, op.clientMsgId)
        const earlier = sent.get(key)
        if (earlier !== undefined) {
          results.push({ _tag: "Duplicate", ack: ackOf(earlier) })
          break
        }
        if (op.replyTo !== undefined && !messages.has(op.replyTo)) {
          results.push({
            _tag: "Rejected",
            error: new BadRequest({ message: "replyTo does not name a message of this room" })
          })
          break
        }
        const m: StoredMessage = {
          seq: seq + 1,
          id: op.messageId,
          sender: op.actor,
          body: op.body,
          ts: now,
          replyTo: op.replyTo,
          clientMsgId: op.clientMsgId,
          deleted: false
        }
        const event = emit("message.created", op.actor, toMessage(room, m, op.body), m.seq)
        newMessages.push(m)
        messages.set(m.seq, m)
        sent.set(key, m)
        results.push({ _tag: "Committed", ack: ackOf(m), events: [event] })
        break
      }
      case "Edit": {
        const m = messages.get(op.seq)
        if (m === undefined || m.deleted) {
          results.push({ _tag: "Rejected", error: m === undefined ? noMessage() : wasDeleted() })
          break
        }
        if (m.sender !== op.actor) {
          results.push({ _tag: "Rejected", error: new Forbidden({ message: "only the sender may edit a message" }) })
          break
        }
        const edited: StoredMessage = { ...m, body: op.body, editedAt: now }
        messages.set(m.seq, edited)
        edits.set(m.seq, { seq: m.seq, body: op.body, editedAt: now })
        const event = emit("message.edited", op.actor, toMessage(room, edited, op.body), m.seq)
        results.push({ _tag: "Committed", ack: ack(event.seq, m.id), events: [event] })
        break
      }
      case "Delete": {
        const m = messages.get(op.seq)
        if (m === undefined) {
          results.push({ _tag: "Rejected", error: noMessage() })
          break
        }
        if (m.sender !== op.actor && !isAdminRole(role)) {
          results.push({
            _tag: "Rejected",
            error: new Forbidden({ message: "only the sender or a room admin may delete a message" })
          })
          break
        }
        if (m.deleted) {
          // Deleting twice is not an error (a retried delete must succeed): nothing new happens.
          results.push({ _tag: "Committed", ack: ack(seq, m.id), events: [] })
          break
        }
        const tomb: StoredMessage = { ...m, body: null, deleted: true }
        messages.set(m.seq, tomb)
        edits.delete(m.seq)
        deletes.add(m.seq)
        const event = emit("message.deleted", op.actor, toMessage(room, tomb, ""), m.seq)
        results.push({ _tag: "Committed", ack: ack(event.seq, m.id), events: [event] })
        break
      }
      case "React": {
        const m = messages.get(op.seq)
        if (m === undefined || m.deleted) {
          results.push({ _tag: "Rejected", error: m === undefined ? noMessage() : wasDeleted() })
          break
        }
        const key = reactionKey(op.seq, op.emoji, op.actor)
        if (reactions.has(key) !== op.remove) {
          // Already in the requested state: idempotent, no event.
          results.push({ _tag: "Committed", ack: ack(seq, m.id), events: [] })
          break
        }
        if (op.remove) reactions.delete(key)
        else reactions.add(key)
        const event = emit(op.remove ? "reaction.removed" : "reaction.added", op.actor, {
          messageSeq: op.seq,
          emoji: op.emoji,
          user: op.actor
        })
        results.push({ _tag: "Committed", ack: ack(event.seq, m.id), events: [event] })
        break
      }
      case "AddMembers": {
        if (input.kind === "direct") {
          results.push({ _tag: "Rejected", error: new Forbidden({ message: "a direct room has exactly two members" }) })
          break
        }
        if (!isAdminRole(role)) {
          results.push({ _tag: "Rejected", error: new Forbidden({ message: "only room admins may add members" }) })
          break
        }
        const added: Array<ChatEvent> = []
        for (const user of new Set(op.users)) {
          if (members.has(user)) continue
          members.set(user, "member")
          added.push(emit("member.joined", op.actor, { user, role: "member" }))
        }
        results.push({ _tag: "Committed", ack: ack(seq), events: added })
        break
      }
      case "RemoveMember": {
        if (input.kind === "direct") {
          results.push({ _tag: "Rejected", error: new Forbidden({ message: "a direct room cannot be left" }) })
          break
        }
        const target = members.get(op.user)
        if (target === undefined) {
          results.push({ _tag: "Rejected", error: new NotFound({ message: "not a member" }) })
          break
        }
        const self = op.user === op.actor
        if (!self && (!isAdminRole(role) || target === "owner")) {
          results.push({
            _tag: "Rejected",
            error: new Forbidden({ message: "only admins may remove others, and nobody may remove the owner" })
          })
          break
        }
        members.delete(op.user)
        const event = emit("member.left", op.actor, { user: op.user, role: target })
        results.push({ _tag: "Committed", ack: ack(event.seq), events: [event] })
        break
      }
      case "Rename": {
        if (input.kind === "direct") {
          results.push({ _tag: "Rejected", error: new Forbidden({ message: "a direct room has no name" }) })
          break
        }
        if (!isAdminRole(role)) {
          results.push({ _tag: "Rejected", error: new Forbidden({ message: "only room admins may rename" }) })
          break
        }
        name = op.name
        const event = emit("room.updated", op.actor, { name: op.name })
        results.push({ _tag: "Committed", ack: ack(event.seq), events: [event] })
        break
      }
    }
  }

  const membersUpserted: Array<{ user: UserId; role: Role }> = []
  for (const [user, role] of members) if (input.members.get(user) !== role) membersUpserted.push({ user, role })
  const membersRemoved = [...input.members.keys()].filter((u) => !members.has(u))
  const reactionsAdded = [...reactions].filter((k) => !input.reactions.has(k)).map(parseReactionKey)
  const reactionsRemoved = [...input.reactions].filter((k) => !reactions.has(k)).map(parseReactionKey)

  return {
    results,
    lastSeq: seq,
    messages: newMessages.map((m) => messages.get(m.seq) ?? m),
    events,
    edits: [...edits.values()].filter((e) => !deletes.has(e.seq) && input.targets.has(e.seq)),
    deletes: [...deletes].filter((s) => input.targets.has(s)),
    reactionsAdded,
    reactionsRemoved,
    membersUpserted,
    membersRemoved,
    members,
    name
  }
}

/**
 * `plan` for the commonest batch, sends without replyTo only, answering what the
 * one-statement commit needs (results, last seq, new messages). The same rules as `plan`'s
 * Send case (a test holds the two equal on random batches); written out because `plan`
 * copies the room's members, targets and reactions for every batch, which on the hot path
 * was 4 KB of garbage per message.
 */
export const planSends = (
  room: RoomId,
  lastSeq: number,
  members: ReadonlyMap<UserId, Role>,
  ops: ReadonlyArray<Extract<WriteOp, { _tag: "Send" }>>,
  now: string
): Pick<Plan, "results" | "lastSeq" | "messages"> => {
  let seq = lastSeq
  const results: Array<OpResult> = new Array(ops.length)
  // Sized for the common batch (every send new): allocated once, trimmed when some were not.
  const messages: Array<StoredMessage> = new Array(ops.length)
  let count = 0
  // Earlier sends of this batch by key; most batches hold one send, so made on a second.
  let sent: Map<string, StoredMessage> | undefined
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!
    if (!members.has(op.actor) && !(op.system === true && op.actor === SYSTEM_SENDER)) {
      results[i] = { _tag: "Rejected", error: notFound() }
      continue
    }
    const key = ops.length > 1 ? idempotencyKey(op.actor, op.clientMsgId) : ""
    const earlier = sent?.get(key)
    if (earlier !== undefined) {
      results[i] = { _tag: "Duplicate", ack: { room, seq: earlier.seq, messageId: earlier.id, ts: earlier.ts } }
      continue
    }
    seq += 1
    const m: StoredMessage = {
      seq,
      id: op.messageId,
      sender: op.actor,
      body: op.body,
      ts: now,
      replyTo: undefined,
      clientMsgId: op.clientMsgId,
      deleted: false
    }
    messages[count++] = m
    if (ops.length > 1) (sent ??= new Map()).set(key, m)
    const data: Message = { seq, id: op.messageId, room, sender: op.actor, body: op.body, ts: now, clientMsgId: op.clientMsgId }
    results[i] = {
      _tag: "Committed",
      ack: { room, seq, messageId: op.messageId, ts: now },
      events: [{ room, seq, ts: now, kind: "message.created", actor: op.actor, data }]
    }
  }
  if (count < ops.length) messages.length = count
  return { results, lastSeq: seq, messages }
}
