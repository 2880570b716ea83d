/**
 * Reads schema.cql from the project root. The only file of the ScyllaDB store that does file
 * I/O; node:fs with a file URL works on Node and on Deno. From a build in dist/, pass the
 * file's text explicitly: tsc copies no .cql.
 */
import { readFileSync } from "node:fs"

export const schemaFile = new URL("../../schema.cql", import.meta.url)

export const loadSchemaCql = (file: URL = schemaFile): string => readFileSync(file, "utf8")
