/**
 * Script entry: prints docs/metrics.md.
 *   npx tsx src/metrics/render-docs.ts > docs/metrics.md
 */
import { renderMetricsDoc } from "./docs.ts"

process.stdout.write(renderMetricsDoc())
