/**
 * Applies schema.cql at start: creates the keyspace when missing, makes it the session's
 * keyspace, then runs each statement (all IF NOT EXISTS). The text is passed in
 * (./schema.node.ts reads the file), so this runs on every runtime.
 */
import { Effect } from "effect"
import { StoreError } from "../../core/errors.ts"
import type { CqlClient } from "./CqlClient.ts"

/** Unquoted CQL identifiers are case-insensitive; this keeps names portable and injection-free. */
const KEYSPACE_RE = /^[A-Za-z][A-Za-z0-9_]{0,47}$/

/** The statements of a CQL file: `--` and `//` comments dropped, split on `;`. */
export const splitCql = (text: string): ReadonlyArray<string> =>
  text
    .split("\n")
    .map((line) => line.replace(/(--|\/\/).*$/, ""))
    .join("\n")
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)

/**
 * One replica: what a dev or test node needs. Production keyspaces are created beforehand with
 * NetworkTopologyStrategy (docs/scylla.md); an existing keyspace is never altered.
 */
export const DEFAULT_REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

const checkKeyspace = (keyspace: string) =>
  KEYSPACE_RE.test(keyspace)
    ? Effect.void
    : Effect.fail(new StoreError({ operation: "schema", cause: new Error(`invalid keyspace name ${JSON.stringify(keyspace)}`) }))

/** Makes `keyspace` the session's: USE switches every pooled connection (cassandra-driver tracks it). */
export const useKeyspace = (cql: CqlClient, keyspace: string): Effect.Effect<void, StoreError> =>
  Effect.zipRight(checkKeyspace(keyspace), cql.ddl("schema", `USE ${keyspace}`))

export const applySchema = (
  cql: CqlClient,
  keyspace: string,
  schemaCql: string,
  replication = DEFAULT_REPLICATION
): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    yield* checkKeyspace(keyspace)
    yield* cql.ddl("schema", `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replication}`)
    yield* useKeyspace(cql, keyspace)
    for (const statement of splitCql(schemaCql)) yield* cql.ddl("schema", statement)
  })
