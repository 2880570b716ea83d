/**
 * The stepped scenarios (./stepped.ts), each server `repeats` times, interleaved (A, B, C,
 * A, B, C, ...) so that a slow minute of the machine does not land on one server only:
 * - fan-out: rooms of 100 with a few senders each; a step holds while p99 send-to-delivery
 *   stays under the limit (100 ms) with nothing lost;
 * - persisted throughput: many small rooms where every member sends and every message is
 *   acked only once committed; a step holds while p99 send-to-ack stays under 50 ms;
 * - fixed-rate table: rooms of 2 as in persisted, every server at the same moderate rates,
 *   every rate run (no search): CPU per message and ack latency where everyone holds;
 * - Zipf: many rooms of 2 whose activity follows a Zipf law over the rooms (a few hot rooms,
 *   a long tail of quiet ones); stepped like persisted.
 */
import type { BenchConfig } from "../config.ts"
import type { BenchPostgres } from "../lib/postgres.ts"
import type { ServerName } from "../lib/servers.ts"
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
  profile: cfg.profile,
  bisect: cfg.bisect,
  fineStepMs: cfg.fineStepMs,
  ...cfg.trust
})

export const fanoutParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  rooms: Math.max(1, Math.floor(cfg.fanout.conns / cfg.fanout.roomSize)),
  roomSize: cfg.fanout.roomSize,
  senders: cfg.fanout.senders,
  rates: cfg.fanout.rates,
  limitOn: "e2e",
  limitMs: cfg.fanout.p99LimitMs,
  senderProcess: true
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

export const fixedParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  stepMs: cfg.fixed.stepMs,
  rooms: cfg.fixed.rooms,
  roomSize: 2,
  senders: cfg.fixed.rooms * 2,
  rates: cfg.fixed.rates,
  limitOn: "ack",
  limitMs: cfg.persist.p99LimitMs,
  search: false,
  bisect: 0
})

/** Zipf weights over the rooms, normalised to average 1: room r (0-based rank) gets 1/(r+1)^s. */
export const zipfWeights = (rooms: number, exponent: number): Array<number> => {
  const raw = Array.from({ length: rooms }, (_, r) => 1 / (r + 1) ** exponent)
  const mean = raw.reduce((a, b) => a + b, 0) / rooms
  return raw.map((w) => w / mean)
}

export const zipfParams = (cfg: BenchConfig): LoadParams => {
  const weights = zipfWeights(cfg.zipf.rooms, cfg.zipf.exponent)
  return {
    ...common(cfg),
    rooms: cfg.zipf.rooms,
    roomSize: 2,
    senders: cfg.zipf.rooms * 2,
    rates: cfg.zipf.rates,
    limitOn: "ack",
    limitMs: cfg.zipf.p99LimitMs,
    weightOfRoom: (r) => weights[r] ?? 1
  }
}

/** Step 1 calm, step 2 the same rate with every listener dropping at a third of the step and resuming with `since`. */
export const stormParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  stepMs: cfg.storm.stepMs,
  // The replays after the storm must have time to arrive before the step is counted.
  drainMs: Math.max(cfg.drainMs, cfg.storm.dropMs + 10_000),
  rooms: cfg.storm.rooms,
  roomSize: 1 + cfg.storm.perRoom,
  senders: cfg.storm.rooms,
  rates: [cfg.storm.rate, cfg.storm.rate],
  limitOn: "ack",
  limitMs: cfg.persist.p99LimitMs,
  search: false,
  bisect: 0,
  storm: { step: 2, atMs: Math.round(cfg.storm.stepMs / 3), dropMs: cfg.storm.dropMs }
})

/** Step 1 writes only, step 2 the same writes with REST history reads beside them. */
export const mixedParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  stepMs: cfg.mixed.stepMs,
  rooms: cfg.mixed.rooms,
  roomSize: 2,
  senders: cfg.mixed.rooms * 2,
  rates: [cfg.mixed.rate, cfg.mixed.rate],
  limitOn: "ack",
  limitMs: cfg.persist.p99LimitMs,
  search: false,
  bisect: 0,
  historyReadsPerS: cfg.mixed.readsPerS,
  historyReadsFromStep: 2
})

export const clusterParams = (cfg: BenchConfig): LoadParams => ({
  ...common(cfg),
  rooms: cfg.cluster.rooms,
  roomSize: 2,
  senders: cfg.cluster.rooms * 2,
  rates: cfg.cluster.rates,
  limitOn: "ack",
  limitMs: cfg.persist.p99LimitMs
})

const runAll = async (
  label: string,
  params: LoadParams,
  servers: ReadonlyArray<ServerName>,
  repeats: number,
  pg: BenchPostgres | undefined,
  log: Log
): Promise<LoadResult> => {
  const runs: Array<ServerRun> = []
  // Every run climbs from the lowest rate, repeats too: a repeat that started one coarse step
  // below the first run's limit, after a warm-up at that rate, was a different test. In the
  // full run of 2026-12-08 our node's first run held 8,000 msg/s (p99 ack 21 ms) after climbing,
  // and both repeats failed their first step, 4,000 after 10 s at 4,000 (p99 58 and 52 ms), so
  // they held nothing. Repeats bisect one step less (at least one): the time a full run can
  // spend is bounded (bench/estimate.ts), and the 30 s steps are most of it.
  const repeatParams = { ...params, bisect: Math.min(params.bisect ?? 0, Math.max(1, (params.bisect ?? 0) - 1)) }
  for (let rep = 1; rep <= repeats; rep++) {
    for (const name of servers) {
      log(`[${label}] ${name} run ${rep}/${repeats}: ${params.rooms} rooms of ${params.roomSize}, ${params.senders} senders`)
      const run = await runOnServer(name, `${label}${rep}`, rep === 1 ? params : repeatParams, pg, log)
      runs.push({ ...run, repeat: rep })
    }
  }
  // The weight function is not data: the results keep the parameters only.
  const { weightOfRoom: _, ...kept } = params
  return { params: kept, runs }
}

export const runFanout = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("fanout", fanoutParams(cfg), cfg.fanout.servers, cfg.repeats, pg, log)

export const runPersist = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("persist", persistParams(cfg), cfg.persist.servers, cfg.repeats, pg, log)

/** The fixed-rate table: one run per server (all rates, no search), interleaved when repeated. */
export const runFixed = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("fixed", fixedParams(cfg), cfg.fixed.servers, cfg.fixed.repeats, pg, log)

export const runZipf = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("zipf", zipfParams(cfg), cfg.zipf.servers, cfg.zipf.repeats, pg, log)

export const runStorm = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("storm", stormParams(cfg), cfg.storm.servers, 1, pg, log)

export const runMixed = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("mixed", mixedParams(cfg), cfg.mixed.servers, 1, pg, log)

export const runCluster = (cfg: BenchConfig, pg: BenchPostgres | undefined, log: Log): Promise<LoadResult> =>
  runAll("cluster", clusterParams(cfg), cfg.cluster.servers, cfg.cluster.repeats, pg, log)
