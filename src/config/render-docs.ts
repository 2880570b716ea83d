/**
 * Script entry: prints the configuration table for the README, to be pasted (or spliced by a
 * script) between `<!-- config:start -->` and `<!-- config:end -->`.
 *   npx tsx src/config/render-docs.ts
 */
import { renderConfigTable } from "./docs.ts"

console.log(renderConfigTable())
