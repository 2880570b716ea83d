/**
 * The node-to-node command format on a shard's command subject (JSON). Internal to the
 * cluster: nodes of one version talk to each other; errors travel as their tag and fields
 * and are rebuilt into the same tagged errors on the other side.
 */
import { Either, Schema } from "effect"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import { ChatErrorSchema, Internal, type ChatError } from "../../core/errors.ts"
import type { Role, RoomId, UserId } from "../../core/model.ts"
import type { OpResult, WriteOp } from "../../core/ops.ts"

export type Command = { readonly k: "w"; readonly room: RoomId; readonly op: WriteOp } | { readonly k: "s"; readonly room: RoomId }

export type Reply =
  | { readonly ok: true; readonly r: OpResult }
  | { readonly ok: true; readonly s: SnapshotJson }
  | { readonly ok: false; readonly e: unknown }

interface SnapshotJson extends Omit<RoomSnapshot, "members"> {
  readonly members: ReadonlyArray<[UserId, Role]>
}

const encodeError = Schema.encodeSync(ChatErrorSchema)
const decodeError = Schema.decodeUnknownEither(ChatErrorSchema)

export const errorToJson = (e: ChatError): unknown => encodeError(e)
export const errorFromJson = (u: unknown): ChatError =>
  Either.getOrElse(decodeError(u), () => new Internal({ message: "malformed error from another node" }))

export const encodeCommand = (c: Command): string => JSON.stringify(c)

export const encodeResult = (r: OpResult): string =>
  JSON.stringify({ ok: true, r: r._tag === "Rejected" ? { _tag: "Rejected", error: errorToJson(r.error) } : r })

export const encodeSnapshot = (s: RoomSnapshot): string =>
  JSON.stringify({ ok: true, s: { ...s, members: [...s.members] } })

export const encodeFailure = (e: ChatError): string => JSON.stringify({ ok: false, e: errorToJson(e) })

export const decodeReply = (text: string): Either.Either<OpResult | RoomSnapshot, ChatError> => {
  let v: any
  try {
    v = JSON.parse(text)
  } catch {
    return Either.left(new Internal({ message: "malformed reply from another node" }))
  }
  if (v?.ok === false) return Either.left(errorFromJson(v.e))
  if (v?.r !== undefined) {
    const r = v.r
    return Either.right(r._tag === "Rejected" ? { _tag: "Rejected", error: errorFromJson(r.error) } : r)
  }
  if (v?.s !== undefined) return Either.right({ ...v.s, members: new Map(v.s.members) })
  return Either.left(new Internal({ message: "malformed reply from another node" }))
}

export const decodeCommand = (text: string): Command | undefined => {
  try {
    const v = JSON.parse(text)
    if ((v?.k === "w" && typeof v.op?._tag === "string") || v?.k === "s") {
      return typeof v.room === "string" ? (v as Command) : undefined
    }
  } catch {
    // fall through
  }
  return undefined
}
