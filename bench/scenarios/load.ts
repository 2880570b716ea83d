/**
 * Scenarios 1 and 2, both a stepped load (./stepped.ts) over every server in turn:
 * - fan-out: rooms of 100 with a few senders each; a step holds while p99 send-to-delivery
 *   stays under the limit (100 ms) with nothing lost;
 * - persisted throughput: many small rooms where every member sends and every message is
 *   acked only once committed; a step holds while p99 send-to-ack stays under 50 ms.
 */
import type { BenchConfig } from "../config.ts"
import type { BenchPostgres } from "../lib/postgres.ts"
import { runOnServer, type LoadParams, type Log, type ServerRun } from "./stepped.ts"

export interface LoadResult {
  readonly params: LoadParams
  readonly runs: ReadonlyArray<ServerRun>
}

const common = (cfg: BenchConfig) => ({
  stepMs: cfg.stepMs,
  drainMs: cfg.drainMs,
  warmupMs: cfg.warmupMs,
  clientProcesses: cfg.clientProcesses,
  bodyBytes: cfg.bodyBytes,
  profile: cfg.profile
})

export const fanoutParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  rooms: Math.max(1, Math.floor(cfg.fanout.conns / cfg.fanout.roomSize)),
  roomSize: cfg.fanout.roomSize,
  senders: cfg.fanout.senders,
  rates: cfg.fanout.rates,
  limitOn: "e2e",
  limitMs: cfg.fanout.p99LimitMs
})

export const persistParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  rooms: cfg.persist.rooms,
  // Every member sends: 200 senders over 100 rooms are rooms of 2.
  roomSize: Math.max(1, Math.ceil(cfg.persist.senders / cfg.persist.rooms)),
  senders: cfg.persist.senders,
  rates: cfg.persist.rates,
  limitOn: "ack",
  limitMs: cfg.persist.p99LimitMs
})

const runAll = async (label: string, params: LoadParams, servers: BenchConfig["fanout"]["servers"], pg: BenchPostgres | undefined, log: Log) => {
  const runs: Array<ServerRun> = []
  for (const name of servers) {
    log(`[${label}] ${name}: ${params.rooms} rooms of ${params.roomSize}, ${params.senders} senders`)
    runs.push(await runOnServer(name, label, params, pg, log))
  }
  return { params, runs }
}

export const runFanout = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("fanout", fanoutParams(cfg), cfg.fanout.servers, pg, log)

export const runPersist = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("persist", persistParams(cfg), cfg.persist.servers, pg, log)
