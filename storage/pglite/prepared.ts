/**
 * Named prepared statements on PGlite. `PGlite.query` sends each statement as the unnamed
 * one (Parse, Describe, Bind, Describe, Execute, Sync as six calls into the WASM backend),
 * and PostgreSQL plans an unnamed statement again at every Bind. For the one-statement
 * commit (storage/sql/fastCommit.ts) that parse and plan were most of its cost: 1.3-1.9 ms
 * of CPU per statement here against 0.46-0.68 ms for the same statement prepared once and
 * executed by name (bench/pgliteprepared.ts). PGlite has no option for that, so this module speaks the
 * protocol through its public pieces (`protocol.serialize`, `execProtocol`,
 * `parse.parseResults`, and the instance's own serializers and parsers, as `query` does):
 * a statement is parsed under a name once per database (Parse, Describe, Sync), then each
 * run is Bind, Describe, Execute and Sync in one call.
 *
 * Only outside transactions (PGlite syncs its files after each call then, as `query`
 * does), and for at most MAX_STATEMENTS distinct texts per database: our statements are
 * constants, and a text past the cap takes `query`. An error answer throws PGlite's
 * DatabaseError (with its SQLSTATE `code`), as `query` would; the Sync in the same call
 * leaves the session ready for the next statement.
 */
import { parse, type PGlite, protocol } from "@electric-sql/pglite"

const MAX_STATEMENTS = 64

interface Prepared {
  readonly name: string
  /** Parameter type OIDs, from the statement's description. */
  readonly types: ReadonlyArray<number>
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Per PGlite instance (tests share one between several stores): names are per session. */
const statements = new WeakMap<PGlite, { byText: Map<string, Promise<Prepared>>; named: number }>()

const prepare = async (db: PGlite, name: string, text: string): Promise<Prepared> => {
  const { messages } = await db.execProtocol(
    concat([protocol.serialize.parse({ name, text }), protocol.serialize.describe({ type: "S", name }), protocol.serialize.sync()])
  )
  return { name, types: parse.parseDescribeStatementResults(messages) }
}

/** What `PGlite.query` sends for a parameter: its type's serializer, else `toString()`, null as NULL. */
const serialise = (db: PGlite, types: ReadonlyArray<number>, params: ReadonlyArray<unknown>): Array<string | null> =>
  params.map((param, i) => {
    if (param === null || param === undefined) return null
    const serialize = db.serializers[types[i]!]
    return serialize !== undefined ? serialize(param) : String(param)
  })

/**
 * Rows of `text` run with `params` as a named prepared statement; undefined when this
 * database already holds MAX_STATEMENTS others (the caller then uses `query`). The caller
 * runs one call at a time on `db` and none inside a transaction.
 */
export const queryPrepared = async (
  db: PGlite,
  text: string,
  params: ReadonlyArray<unknown>
): Promise<Array<Record<string, unknown>> | undefined> => {
  let session = statements.get(db)
  if (session === undefined) statements.set(db, (session = { byText: new Map(), named: 0 }))
  const { byText } = session
  let prepared = byText.get(text)
  if (prepared === undefined) {
    if (byText.size >= MAX_STATEMENTS) return undefined
    // A fresh name each time: one that failed half way is never reused.
    const name = `chat_prepared_${++session.named}`
    prepared = db.runExclusive(() => prepare(db, name, text))
    byText.set(text, prepared)
    // A statement that failed to prepare (a table not migrated yet) is tried again next time.
    prepared.catch(() => byText.delete(text))
  }
  const { name, types } = await prepared
  const values = serialise(db, types, params)
  const { messages } = await db.runExclusive(() =>
    db.execProtocol(
      concat([
        protocol.serialize.bind({ statement: name, values }),
        protocol.serialize.describe({ type: "P" }),
        protocol.serialize.execute({}),
        protocol.serialize.sync()
      ])
    )
  )
  const [result] = parse.parseResults(messages, db.parsers)
  return (result?.rows ?? []) as Array<Record<string, unknown>>
}
