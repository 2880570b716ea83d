/**
 * The node-to-node command format on a shard's command subject (JSON): encoding and
 * decoding of the Schemas in src/protocol/cluster.ts. Internal to the cluster: nodes of one
 * version talk to each other; errors travel as their tag and fields and are rebuilt into
 * the same tagged errors on the other side. Whatever does not decode is refused with a
 * worded Internal error, never cast.
 */
import { Either, ParseResult, Schema } from "effect"
import type { RoomSnapshot } from "../../core/snapshot.ts"
import { Internal, type ChatError } from "../../core/errors.ts"
import type { OpResult } from "../../core/ops.ts"
import { Command, Reply } from "../protocol/cluster.ts"

export type { Command }

const parse = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left("not JSON")
  }
}

const encodeCommandJson = Schema.encodeSync(Command)
const decodeCommandJson = Schema.decodeUnknownEither(Command)
const encodeReplyJson = Schema.encodeSync(Reply)
const decodeReplyJson = Schema.decodeUnknownEither(Reply)

const issue = (e: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(e).split("\n")[0]

export const encodeCommand = (c: Command): string => JSON.stringify(encodeCommandJson(c))

/** The command, or why it is refused (answered to the sender as an Internal error). */
export const decodeCommand = (text: string): Either.Either<Command, Internal> =>
  Either.flatMap(parse(text), (json) => Either.mapLeft(decodeCommandJson(json), issue)).pipe(
    Either.mapLeft((why) => new Internal({ message: `malformed command from another node: ${why}` }))
  )

export const encodeResult = (r: OpResult): string => JSON.stringify(encodeReplyJson({ ok: true, r }))

export const encodeSnapshot = (s: RoomSnapshot): string => JSON.stringify(encodeReplyJson({ ok: true, s }))

export const encodeFailure = (e: ChatError): string => JSON.stringify(encodeReplyJson({ ok: false, e }))

export const decodeReply = (text: string): Either.Either<OpResult | RoomSnapshot, ChatError> => {
  const reply = Either.flatMap(parse(text), (json) => Either.mapLeft(decodeReplyJson(json), issue))
  if (Either.isLeft(reply)) return Either.left(new Internal({ message: `malformed reply from another node: ${reply.left}` }))
  const v = reply.right
  if (v.ok === false) return Either.left(v.e)
  return Either.right("r" in v ? v.r : v.s)
}
