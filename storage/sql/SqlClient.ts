/**
 * The little a SQL store needs from a driver, so PostgreSQL (postgres.js) and PGlite run the
 * same SQL text. Promise-based on purpose: each driver is wrapped once, here-shaped, and
 * SqlStore turns rejections into StoreError at that single edge.
 */
export type Row = Record<string, unknown>

export interface SqlClient {
  /** One statement with `$1..$n` parameters; `undefined` must not be passed (use null). */
  readonly query: (text: string, params?: ReadonlyArray<unknown>) => Promise<ReadonlyArray<Row>>
  /** Several `;`-separated statements without parameters (migrations). */
  readonly script: (text: string) => Promise<void>
}

/** A client inside a transaction. */
export interface SqlTransaction extends SqlClient {
  /**
   * Where the driver pipelines: send COMMIT now, behind the statements already issued, and
   * stop issuing statements. The transaction still fails if any of them fails (a COMMIT
   * of a failed transaction is a rollback). Absent: COMMIT follows when `fn` resolves.
   */
  readonly commitNow?: () => void
}

export interface SqlDatabase extends SqlClient {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it rejects. */
  readonly transaction: <A>(fn: (tx: SqlTransaction) => Promise<A>) => Promise<A>
}
