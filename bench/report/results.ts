/** The shape of bench/results/<timestamp>.json: everything BENCHMARKS.md is generated from. */
import type { BenchConfig } from "../config.ts"
import type { MachineFacts } from "../lib/machine.ts"
import type { ColdStartResult } from "../scenarios/coldstart.ts"
import type { HistoryRun } from "../scenarios/history.ts"
import type { IdleResult } from "../scenarios/idle.ts"
import type { KillCheckRun } from "../scenarios/killcheck.ts"
import type { LoadResult } from "../scenarios/load.ts"
import type { Target } from "./targets.ts"

export interface BenchResults {
  readonly version: 1
  readonly mode: "quick" | "full"
  /** The exact command line of the run. */
  readonly command: string
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationS: number
  /** Wall time of each scenario, servers' starts included. */
  readonly scenarioDurationsS: Readonly<Record<string, number>>
  readonly machine: MachineFacts
  readonly postgres: { readonly version: string; readonly settings: ReadonlyArray<string> } | null
  /** The CQL server behind ours-scylla and ours-dual, when one ran. */
  readonly cql?: string
  readonly config: BenchConfig
  readonly scenarios: {
    readonly fanout?: LoadResult
    readonly persist?: LoadResult
    readonly fixed?: LoadResult
    readonly zipf?: LoadResult
    readonly storm?: LoadResult
    readonly mixed?: LoadResult
    readonly cluster?: LoadResult
    readonly killcheck?: { readonly runs: ReadonlyArray<KillCheckRun> }
    readonly idle?: IdleResult
    readonly history?: { readonly runs: ReadonlyArray<HistoryRun> }
    readonly coldstart?: ColdStartResult
  }
  readonly targets: ReadonlyArray<Target>
  /** Scenario-level failures (a scenario that threw before producing any result). */
  readonly errors: ReadonlyArray<{ readonly scenario: string; readonly message: string }>
}
