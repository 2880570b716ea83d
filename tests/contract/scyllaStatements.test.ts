/**
 * CQL has no EXPLAIN; what makes a query cheap is that it names a whole partition key. This
 * checks every statement of the ScyllaDB store against schema.cql: each one that reads, updates
 * or deletes restricts every partition-key column of its table with `=` (or `IN` on a
 * clustering column after that), each insert supplies them, and none uses ALLOW FILTERING.
 * The one full scan (room keys, for master-key rotation) is listed by name.
 */
import { describe, expect, it } from "vitest"
import { readdirSync, readFileSync } from "node:fs"
import { loadSchemaCql } from "../../storage/scylla/schema.node.ts"
import { splitCql } from "../../storage/scylla/schema.ts"
import * as S from "../../storage/scylla/statements.ts"

/** table -> partition-key columns, from `PRIMARY KEY ((a, b), c)` or `x type PRIMARY KEY`. */
const partitionKeys = (schema: string): Map<string, Array<string>> => {
  const out = new Map<string, Array<string>>()
  for (const statement of splitCql(schema)) {
    const table = /CREATE TABLE IF NOT EXISTS (\w+)/i.exec(statement)?.[1]
    if (table === undefined) continue
    const composite = /PRIMARY KEY \(\(([^)]*)\)/i.exec(statement)
    const inline = /(\w+)\s+\w+\s+PRIMARY KEY/i.exec(statement)
    const keys = composite !== null ? composite[1].split(",").map((c) => c.trim()) : inline !== null ? [inline[1]] : []
    out.set(table, keys)
  }
  return out
}

/** table -> every column it declares (the lines of its CREATE TABLE that start with a name and a type). */
const columnsOf = (schema: string): Map<string, Set<string>> => {
  const out = new Map<string, Set<string>>()
  for (const statement of splitCql(schema)) {
    const table = /CREATE TABLE IF NOT EXISTS (\w+)/i.exec(statement)?.[1]
    if (table === undefined) continue
    const body = statement.slice(statement.indexOf("(") + 1)
    const names = [...body.matchAll(/^\s*(\w+)\s+[\w<>, ]+?(?:\s+(?:PRIMARY KEY|static))?\s*,?\s*$/gim)].map((m) => m[1])
    out.set(table, new Set(names.filter((n) => n.toUpperCase() !== "PRIMARY")))
  }
  return out
}

const statements: ReadonlyArray<readonly [string, string]> = Object.entries(S).flatMap(([name, value]) =>
  typeof value === "string" ? [[name, value] as const] : []
)

const tableOf = (cql: string) => /\b(?:FROM|INTO|UPDATE)\s+([\w.]+)/i.exec(cql)?.[1]

describe("scylla statements", () => {
  const keys = partitionKeys(loadSchemaCql())

  it("schema - every table declares its partition key", () => {
    expect(keys.size).toBeGreaterThanOrEqual(12)
    for (const [table, pk] of keys) expect(pk.length, table).toBeGreaterThan(0)
  })

  it("statements - each names its table's whole partition key; only the listed full scan does not", () => {
    expect(statements.length).toBeGreaterThan(30)
    for (const [name, cql] of statements) {
      const table = tableOf(cql)
      expect(table, name).toBeDefined()
      if (table!.startsWith("system.")) continue
      const pk = keys.get(table!)
      expect(pk, `${name}: table ${table} is in schema.cql`).toBeDefined()
      if (S.FULL_SCANS.has(cql)) continue
      if (/^\s*INSERT/i.test(cql)) {
        const columns = /\(([^)]*)\)\s*VALUES/i.exec(cql)![1].split(",").map((c) => c.trim())
        for (const column of pk!) expect(columns, `${name} supplies ${column}`).toContain(column)
      } else {
        const where = /\bWHERE\b([\s\S]*)$/i.exec(cql)?.[1] ?? ""
        for (const column of pk!) expect(where, `${name} restricts ${column}`).toMatch(new RegExp(`\\b${column}\\s*=\\s*[?']`))
      }
    }
  })

  it("statements - every column a statement restricts, sets or inserts exists in its table", () => {
    const columns = columnsOf(loadSchemaCql())
    for (const [name, cql] of statements) {
      const table = tableOf(cql)!
      if (table.startsWith("system.")) continue
      const known = columns.get(table)
      expect(known, `${name}: columns of ${table}`).toBeDefined()
      const named = [
        ...[...cql.matchAll(/\b(\w+)\s*(?:=|\bIN\b|<|>)\s*[?(']/gi)].map((m) => m[1]),
        ...(/^\s*INSERT/i.test(cql) ? /\(([^)]*)\)\s*VALUES/i.exec(cql)![1].split(",").map((c) => c.trim()) : [])
      ].filter((c) => !/^(TIMESTAMP|TTL|LIMIT)$/i.test(c))
      for (const column of named) expect(known!.has(column), `${name}: ${table}.${column} exists`).toBe(true)
    }
  })

  it("statements - no ALLOW FILTERING anywhere in the store's source", () => {
    const dir = new URL("../../storage/scylla/", import.meta.url)
    for (const file of readdirSync(dir)) {
      expect(readFileSync(new URL(file, dir), "utf8"), file).not.toMatch(/ALLOW\s+FILTERING/i)
    }
    for (const [name, cql] of statements) expect(cql, name).not.toMatch(/ALLOW\s+FILTERING/i)
  })
})
