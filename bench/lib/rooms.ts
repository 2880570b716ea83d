/**
 * Who connects where: rooms, their members and which members send. For our server the
 * rooms are real groups created through REST (owner = the room's first user); the peers
 * have no membership, a room is just a name.
 */
import { Effect } from "effect"
import { signToken } from "../../src/auth/signToken.ts"
import type { ConnSpec } from "../client/messages.ts"
import { BENCH_SECRET, type RunningServer } from "./servers.ts"

export interface RoomLayout {
  readonly rooms: number
  readonly roomSize: number
  /** Sending connections, dealt over the rooms round-robin (sender k is in room k % rooms). */
  readonly senders: number
  /** User ids are `<prefix><room>.<member>`. */
  readonly prefix: string
  /** Source address for connection i (idle scenario: beyond one ephemeral port range). */
  readonly localAddressOf?: (i: number) => string | undefined
  /** Members that do not send are dropped and resumed in the reconnect storm. */
  readonly stormers?: boolean
  /** Each sender's share of the rate, by room (the Zipf scenario); 1 when absent. */
  readonly weightOfRoom?: (room: number) => number
}

export interface RoomPlan {
  readonly conns: ReadonlyArray<ConnSpec>
  /** Subscribers of each room, by the room's wire name: the expected deliveries per message. */
  readonly subscribers: ReadonlyMap<string, number>
}

const REST_CONCURRENCY = 8

const token = (user: string) => Effect.runPromise(signToken(BENCH_SECRET, user, { expiresIn: "6h" }))

/** Tokens are signed here, not in the client processes, which then start without loading Effect. */
const signAll = async (users: ReadonlyArray<string>): Promise<Array<string>> => {
  const out: Array<string> = []
  for (let i = 0; i < users.length; i += 1000) out.push(...(await Promise.all(users.slice(i, i + 1000).map(token))))
  return out
}

const createRooms = async (server: RunningServer, layout: RoomLayout): Promise<Array<string>> => {
  const ids = new Array<string>(layout.rooms)
  let next = 0
  const lane = async () => {
    while (next < layout.rooms) {
      const r = next++
      const users = Array.from({ length: layout.roomSize }, (_, i) => `${layout.prefix}${r}.${i}`)
      const res = await fetch(`${server.httpUrl}/v1/rooms`, {
        method: "POST",
        headers: { authorization: `Bearer ${await token(users[0])}`, "content-type": "application/json" },
        body: JSON.stringify({ kind: "group", name: `bench ${r}`, members: users.slice(1) }),
        signal: AbortSignal.timeout(60_000)
      })
      const body = (await res.json()) as { id?: string }
      if (res.status !== 201 || typeof body.id !== "string") throw new Error(`creating room ${r}: HTTP ${res.status} ${JSON.stringify(body)}`)
      ids[r] = body.id
    }
  }
  await Promise.all(Array.from({ length: REST_CONCURRENCY }, lane))
  return ids
}

const wireName = (server: RunningServer, r: number) =>
  // The raw ws peer reads a fixed 8-character room header.
  server.protocol === "rawws" ? `r${String(r).padStart(7, "0")}` : `room-${r}`

export const planRooms = async (server: RunningServer, layout: RoomLayout): Promise<RoomPlan> => {
  if (layout.senders > layout.rooms * layout.roomSize) throw new Error("more senders than connections")
  const names = server.protocol === "ours" ? await createRooms(server, layout) : Array.from({ length: layout.rooms }, (_, r) => wireName(server, r))
  const conns: Array<ConnSpec> = []
  const subscribers = new Map<string, number>()
  for (let r = 0; r < layout.rooms; r++) {
    subscribers.set(names[r], layout.roomSize)
    for (let i = 0; i < layout.roomSize; i++) {
      const k = i * layout.rooms + r
      const local = layout.localAddressOf?.(conns.length)
      conns.push({
        user: `${layout.prefix}${r}.${i}`,
        room: names[r],
        sender: k < layout.senders,
        // Evenly spread phases; with weights (Zipf) a golden-ratio sequence instead, so that a
        // sender's phase does not follow its room's rank and the quiet senders' few messages
        // add up to their share over a step.
        ...(k < layout.senders
          ? { phase: layout.weightOfRoom === undefined ? k / layout.senders : (k * 0.6180339887498949) % 1, senderId: k }
          : {}),
        ...(k < layout.senders && layout.weightOfRoom !== undefined ? { weight: layout.weightOfRoom(r) } : {}),
        ...(k >= layout.senders && layout.stormers === true ? { stormer: true } : {}),
        // Several nodes (behind NATS): a room's members are spread over them.
        ...(server.connectUrls !== undefined ? { url: server.connectUrls[i % server.connectUrls.length] } : {}),
        ...(local !== undefined ? { localAddress: local } : {})
      })
    }
  }
  // Our node and the lean peer check a JWT at the upgrade.
  if (server.protocol !== "ours" && server.protocol !== "lean") return { conns, subscribers }
  const tokens = await signAll(conns.map((c) => c.user))
  return { conns: conns.map((c, i) => ({ ...c, token: tokens[i] })), subscribers }
}
