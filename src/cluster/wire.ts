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
import * as Fast from "../protocol/fastCluster.ts"

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

// A send, its reply and its event take the hand-written codecs of src/protocol/fastCluster.ts
// (checked against these Schemas by tests/unit/cluster-wire.test.ts); the rest the Schemas.
export const encodeCommand = (c: Command): string =>
  c.k === "w" && c.op._tag === "Send" ? Fast.encodeSendCommand(c.room, c.op) : JSON.stringify(encodeCommandJson(c))

/** The command, or why it is refused (answered to the sender as an Internal error). */
export const decodeCommand = (text: string): Either.Either<Command, Internal> =>
  Either.flatMap(parse(text), (json) => {
    const send = Fast.decodeSendCommandValue(json)
    return send !== undefined ? Either.right(send) : Either.mapLeft(decodeCommandJson(json), issue)
  }).pipe(Either.mapLeft((why) => new Internal({ message: `malformed command from another node: ${why}` })))

export const encodeResult = (r: OpResult): string => Fast.encodeOkResult(r) ?? JSON.stringify(encodeReplyJson({ ok: true, r }))

export const encodeSnapshot = (s: RoomSnapshot): string => JSON.stringify(encodeReplyJson({ ok: true, s }))

export const encodeFailure = (e: ChatError): string => JSON.stringify(encodeReplyJson({ ok: false, e }))

export const decodeReply = (text: string): Either.Either<OpResult | RoomSnapshot, ChatError> => {
  const parsed = parse(text)
  const fast = Either.isRight(parsed) ? Fast.decodeOkResultValue(parsed.right) : undefined
  if (fast !== undefined) return Either.right(fast)
  const reply = Either.flatMap(parsed, (json) => Either.mapLeft(decodeReplyJson(json), issue))
  if (Either.isLeft(reply)) return Either.left(new Internal({ message: `malformed reply from another node: ${reply.left}` }))
  const v = reply.right
  if (v.ok === false) return Either.left(v.e)
  return Either.right("r" in v ? v.r : v.s)
}
