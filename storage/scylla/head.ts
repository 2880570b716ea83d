/** The room_head row: the room, its last seq, the fencing epoch and the last batch's intent. */
import { Effect } from "effect"
import type { StoreError } from "../../core/errors.ts"
import type { RoomId, RoomKind } from "../../core/model.ts"
import type { CqlClient } from "./CqlClient.ts"
import { iso, num, optStr } from "./rows.ts"
import * as S from "./statements.ts"

export interface Head {
  readonly kind: RoomKind
  readonly name: string | undefined
  readonly createdAt: string
  readonly lastActivityAt: string
  readonly lastSeq: number
  readonly epoch: number
  /** Counts every change of the head; the claim's condition. */
  readonly version: number
  /** Write timestamp of the last batch (microseconds); the next one writes above it. */
  readonly writeTs: number
  readonly commitId: string | undefined
  /** The last batch's intent (JSON), possibly not yet applied. */
  readonly intent: string | undefined
}

export const loadHead = (cql: CqlClient, operation: string, room: RoomId): Effect.Effect<Head | undefined, StoreError> =>
  Effect.map(cql.rows(operation, S.LOAD_HEAD, [room]), ([row]) =>
    row === undefined || row.kind === null || row.kind === undefined
      ? undefined
      : {
          kind: String(row.kind) as RoomKind,
          name: optStr(row.name),
          createdAt: iso(row.created_at),
          lastActivityAt: iso(row.last_activity_at),
          lastSeq: num(row.last_seq),
          epoch: num(row.epoch),
          version: num(row.version),
          writeTs: num(row.write_ts),
          commitId: optStr(row.commit_id),
          intent: optStr(row.intent)
        }
  )

export interface HeadSummary {
  readonly kind: RoomKind
  readonly name: string | undefined
  readonly lastActivityAt: string
  readonly lastSeq: number
}

export const loadHeadSummary = (
  cql: CqlClient,
  operation: string,
  room: RoomId
): Effect.Effect<HeadSummary | undefined, StoreError> =>
  Effect.map(cql.rows(operation, S.HEAD_SUMMARY, [room]), ([row]) =>
    row === undefined || row.kind === null || row.kind === undefined
      ? undefined
      : {
          kind: String(row.kind) as RoomKind,
          name: optStr(row.name),
          lastActivityAt: iso(row.last_activity_at),
          lastSeq: num(row.last_seq)
        }
  )
