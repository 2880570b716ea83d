/**
 * cassandra-driver, wrapped once: every call is an Effect, every driver rejection becomes a
 * StoreError named after the store operation, and values come back as plain records. Every
 * statement is prepared (cached by the driver per text). Lightweight transactions answer an
 * LwtOutcome instead of failing on timeouts, because a timed-out LWT may still have been
 * applied: the caller must find out (see ./commit.ts), not retry blindly.
 */
import cassandra from "cassandra-driver"
import { Effect, type Scope } from "effect"
import type { Consistency } from "./consistency.ts"
import { StoreError } from "../../core/errors.ts"

export type Row = Readonly<Record<string, unknown>>

export interface Statement {
  readonly query: string
  readonly params: ReadonlyArray<unknown>
}

export type LwtOutcome =
  | { readonly _tag: "Applied" }
  /** The condition did not hold; `current` holds the row's values of the conditioned columns. */
  | { readonly _tag: "NotApplied"; readonly current: Row }
  /** Timed out or lost the connection: the transaction may or may not have been applied. */
  | { readonly _tag: "Unknown"; readonly cause: unknown }

export interface ReadOptions {
  /** Read through Paxos (LOCAL_SERIAL): sees every LWT that was accepted, even if not yet committed. */
  readonly serial?: boolean
}

export interface CqlClient {
  /** A single-page read (the statement carries its own LIMIT when it needs one). */
  readonly rows: (operation: string, query: string, params: ReadonlyArray<unknown>, options?: ReadOptions) => Effect.Effect<ReadonlyArray<Row>, StoreError>
  /** All pages of a read (callers bound it: one partition, or one bucket of one). */
  readonly allRows: (operation: string, query: string, params: ReadonlyArray<unknown>, options?: ReadOptions) => Effect.Effect<ReadonlyArray<Row>, StoreError>
  /** An idempotent write (plain, or an unlogged batch of statements on one partition). */
  readonly write: (operation: string, statements: ReadonlyArray<Statement>) => Effect.Effect<void, StoreError>
  /** A conditional statement, or a conditional batch on one partition. */
  readonly lwt: (operation: string, statements: ReadonlyArray<Statement>) => Effect.Effect<LwtOutcome, StoreError>
  /** Schema statements, one at a time (the driver waits for schema agreement after each). */
  readonly ddl: (operation: string, query: string) => Effect.Effect<void, StoreError>
}

export interface CqlOptions {
  /** `host` or `host:port`; port 9042 when absent. */
  readonly contactPoints: ReadonlyArray<string>
  readonly localDc: string
  readonly consistency: Consistency
  /** Milliseconds; default 10 000 (cassandra-driver's connect default is 5 000). */
  readonly connectTimeoutMs?: number
}

const consistencies: Record<Consistency, number> = {
  ANY: cassandra.types.consistencies.any,
  ONE: cassandra.types.consistencies.one,
  TWO: cassandra.types.consistencies.two,
  THREE: cassandra.types.consistencies.three,
  QUORUM: cassandra.types.consistencies.quorum,
  ALL: cassandra.types.consistencies.all,
  LOCAL_QUORUM: cassandra.types.consistencies.localQuorum,
  EACH_QUORUM: cassandra.types.consistencies.eachQuorum,
  SERIAL: cassandra.types.consistencies.serial,
  LOCAL_SERIAL: cassandra.types.consistencies.localSerial,
  LOCAL_ONE: cassandra.types.consistencies.localOne
}

const codes = cassandra.types.responseErrorCodes
/** Server answers that mean the request was rejected before anything was proposed. */
const REJECTED_BEFORE_PROPOSAL: ReadonlySet<number> = new Set([
  codes.unavailableException,
  codes.overloaded,
  codes.isBootstrapping,
  codes.syntaxError,
  codes.unauthorized,
  codes.invalid,
  codes.configError
])

const plain = (row: cassandra.types.Row): Row => {
  const out: Record<string, unknown> = {}
  for (const key of row.keys()) out[key] = row.get(key)
  return out
}

/** Rows come back as driver Row objects; a page of them becomes plain records here. */
const toRows = (rs: cassandra.types.ResultSet): Array<Row> => (rs.rows ?? []).map(plain)

export const makeCqlClient = (options: CqlOptions): Effect.Effect<CqlClient, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const c = new cassandra.Client({
            contactPoints: [...options.contactPoints],
            localDataCenter: options.localDc,
            policies: {
              // Token-aware: each statement goes to a replica of its partition, chosen in the local DC.
              loadBalancing: new cassandra.policies.loadBalancing.TokenAwarePolicy(
                new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy(options.localDc)
              )
            },
            queryOptions: {
              consistency: consistencies[options.consistency],
              serialConsistency: cassandra.types.consistencies.localSerial,
              prepare: true
            },
            socketOptions: { connectTimeout: options.connectTimeoutMs ?? 10_000 }
          })
          try {
            await c.connect()
          } catch (e) {
            await c.shutdown().catch(() => {})
            throw e
          }
          return c
        },
        catch: (cause) => new StoreError({ operation: "connect", cause })
      }),
      (c) => Effect.promise(() => c.shutdown().catch(() => undefined))
    )

    const run = <A>(operation: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => new StoreError({ operation, cause }) })

    const readOptions = (o: ReadOptions | undefined) => ({
      prepare: true,
      isIdempotent: true,
      ...(o?.serial === true ? { consistency: cassandra.types.consistencies.localSerial } : {})
    })

    const asBatchItems = (statements: ReadonlyArray<Statement>) =>
      statements.map((s) => ({ query: s.query, params: [...s.params] }))

    return {
      rows: (operation, query, params, o) =>
        run(operation, async () => toRows(await client.execute(query, [...params], readOptions(o)))),

      allRows: (operation, query, params, o) =>
        run(operation, async () => {
          const out: Array<Row> = []
          let pageState: string | undefined
          do {
            const rs = await client.execute(query, [...params], { ...readOptions(o), fetchSize: 1000, pageState })
            out.push(...toRows(rs))
            pageState = rs.pageState ?? undefined
          } while (pageState !== undefined)
          return out
        }),

      write: (operation, statements) =>
        run(operation, async () => {
          if (statements.length === 0) return
          if (statements.length === 1) {
            await client.execute(statements[0].query, [...statements[0].params], { prepare: true, isIdempotent: true })
          } else {
            // Unlogged: the callers batch only rows of one partition, which Cassandra and
            // ScyllaDB apply atomically without the batchlog.
            await client.batch(asBatchItems(statements), { prepare: true, logged: false, isIdempotent: true })
          }
        }),

      lwt: (operation, statements) =>
        Effect.tryPromise({
          try: async (): Promise<LwtOutcome> => {
            try {
              const rs =
                statements.length === 1
                  ? await client.execute(statements[0].query, [...statements[0].params], { prepare: true, isIdempotent: false })
                  : await client.batch(asBatchItems(statements), { prepare: true, isIdempotent: false })
              if (rs.wasApplied()) return { _tag: "Applied" }
              return { _tag: "NotApplied", current: rs.rows.length > 0 ? plain(rs.rows[0]) : {} }
            } catch (e) {
              const code = (e as { code?: unknown }).code
              if (typeof code === "number" && REJECTED_BEFORE_PROPOSAL.has(code)) throw e
              return { _tag: "Unknown", cause: e }
            }
          },
          catch: (cause) => new StoreError({ operation, cause })
        }),

      ddl: (operation, query) => run(operation, async () => void (await client.execute(query, [], { prepare: false })))
    } satisfies CqlClient
  })
