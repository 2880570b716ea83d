/**
 * How long a run will take, printed at its start: a model of each scenario from its
 * parameters (steps, their lengths, repeats, connections) and per-server start-up costs
 * measured on the 2-core machine. `typical` assumes a search stops halfway up the coarse
 * rates (and repeats start near the limit); `max` runs every coarse step and every
 * bisection step. History loading and idle connections dominate the rest.
 */
import type { BenchConfig } from "./config.ts"
import { fdLimit } from "./lib/machine.ts"
import type { ServerName } from "./lib/servers.ts"

/** Start, room creation and connect, seconds (measured here from dist/: ours ~2-3 s, PGlite a few more, peers ~1 s). */
const startS = (name: ServerName, conns: number, rooms: number): number =>
  (name === "ours-cluster2" ? 8 : name === "ours-pglite" ? 5 : name.startsWith("ours") ? 3 : 1.5) +
  conns / 600 +
  (name.startsWith("ours") ? rooms / 60 : 0)

interface Stepped {
  readonly servers: ReadonlyArray<ServerName>
  readonly rates: number
  readonly stepMs: number
  readonly repeats: number
  readonly search: boolean
  readonly conns: number
  readonly rooms: number
}

const stepped = (cfg: BenchConfig, s: Stepped) => {
  const coarse = (s.stepMs + Math.min(cfg.drainMs, 500) + 200) / 1000
  const fine = s.search ? cfg.bisect * ((cfg.fineStepMs + 1000) / 1000) : 0
  const warm = (cfg.warmupMs + 1500) / 1000
  const fineRepeat = s.search ? Math.min(cfg.bisect, Math.max(1, cfg.bisect - 1)) * ((cfg.fineStepMs + 1000) / 1000) : 0
  // A failing step on a busy machine or a late client is run once more per run (max only).
  const retry = s.search ? Math.max(coarse, (cfg.fineStepMs + 1000) / 1000) : 0
  const one = (n: number, f = fine) => (name: ServerName) => startS(name, s.conns, s.rooms) + warm + n * coarse + f + 2
  // Typical: every run, repeats too, climbs about half the rates.
  const typicalSteps = s.search ? Math.ceil(s.rates / 2) : s.rates
  const sum = (f: (n: ServerName) => number) => s.servers.reduce((a, n) => a + f(n), 0)
  return {
    typical: sum(one(typicalSteps)) + (s.repeats - 1) * sum(one(typicalSteps, fineRepeat)),
    max: s.repeats * sum((name) => one(s.rates, fine)(name) + retry)
  }
}

export interface Estimate {
  readonly typicalS: number
  readonly maxS: number
  readonly byScenario: Readonly<Record<string, number>>
}

export const estimate = (cfg: BenchConfig): Estimate => {
  const by: Record<string, { typical: number; max: number }> = {}
  for (const sc of cfg.scenarios) {
    switch (sc) {
      case "fanout":
        by[sc] = stepped(cfg, { servers: cfg.fanout.servers, rates: cfg.fanout.rates.length, stepMs: cfg.stepMs, repeats: cfg.repeats, search: true, conns: cfg.fanout.conns, rooms: cfg.fanout.conns / cfg.fanout.roomSize })
        break
      case "persist":
        by[sc] = stepped(cfg, { servers: cfg.persist.servers, rates: cfg.persist.rates.length, stepMs: cfg.stepMs, repeats: cfg.repeats, search: true, conns: cfg.persist.senders, rooms: cfg.persist.rooms })
        break
      case "fixed":
        by[sc] = stepped(cfg, { servers: cfg.fixed.servers, rates: cfg.fixed.rates.length, stepMs: cfg.fixed.stepMs, repeats: cfg.fixed.repeats, search: false, conns: cfg.fixed.rooms * 2, rooms: cfg.fixed.rooms })
        break
      case "zipf":
        by[sc] = stepped(cfg, { servers: cfg.zipf.servers, rates: cfg.zipf.rates.length, stepMs: cfg.stepMs, repeats: cfg.zipf.repeats, search: true, conns: cfg.zipf.rooms * 2, rooms: cfg.zipf.rooms })
        break
      case "cluster":
        by[sc] = stepped(cfg, { servers: cfg.cluster.servers, rates: cfg.cluster.rates.length, stepMs: cfg.stepMs, repeats: cfg.cluster.repeats, search: true, conns: cfg.cluster.rooms * 2, rooms: cfg.cluster.rooms })
        break
      case "storm": {
        const one = stepped(cfg, { servers: cfg.storm.servers, rates: 2, stepMs: cfg.storm.stepMs, repeats: 1, search: false, conns: cfg.storm.rooms * (1 + cfg.storm.perRoom), rooms: cfg.storm.rooms })
        const extra = cfg.storm.servers.length * (cfg.storm.dropMs / 1000 + 5)
        by[sc] = { typical: one.typical + extra, max: one.max + extra }
        break
      }
      case "mixed":
        by[sc] = stepped(cfg, { servers: cfg.mixed.servers, rates: 2, stepMs: cfg.mixed.stepMs, repeats: 1, search: false, conns: cfg.mixed.rooms * 2, rooms: cfg.mixed.rooms })
        break
      case "killcheck": {
        const t = cfg.killcheck.servers.reduce((a, n) => a + 2 * startS(n, 0, cfg.killcheck.rooms) + cfg.killcheck.messages / 2000 + 1, 0)
        by[sc] = { typical: t, max: t * 2 }
        break
      }
      case "idle": {
        // A count that does not fit the open-file limit is skipped at once (scenarios/idle.ts).
        const t = cfg.idle.servers.length * cfg.idle.conns.reduce((a, k) => a + (k + 500 > fdLimit() ? 1 : cfg.idle.repeats * (15 + k / 700)), 0)
        by[sc] = { typical: t, max: t * 1.5 }
        break
      }
      case "history": {
        // Load rates measured here: ~15,000 msg/s into PostgreSQL, ~10,000 into PGlite (bench/results, full run of 2026-11-28).
        const t = cfg.history.stores.reduce((a, st) => a + cfg.history.messages / (st === "postgres" ? 15_000 : 10_000) + 10 + cfg.history.queries * 0.01, 0)
        by[sc] = { typical: t, max: t * 2 }
        break
      }
      case "coldstart": {
        const idle = cfg.coldstart.stores.includes("pglite") ? (cfg.coldstart.repeats * cfg.coldstart.idleMs) / 1000 : 0
        const t = cfg.coldstart.stores.length * cfg.coldstart.repeats * 2 * 8 + 10
        by[sc] = { typical: t + idle, max: t * 2 + idle }
        break
      }
    }
  }
  const pg = 5
  return {
    typicalS: Math.round(pg + Object.values(by).reduce((a, v) => a + v.typical, 0)),
    maxS: Math.round(pg + Object.values(by).reduce((a, v) => a + v.max, 0)),
    byScenario: Object.fromEntries(Object.entries(by).map(([k, v]) => [k, Math.round(v.typical)]))
  }
}

export const describeEstimate = (e: Estimate): string =>
  `estimated wall time: typically ~${Math.ceil(e.typicalS / 60)} min, at most ~${Math.ceil(e.maxS / 60)} min (` +
  Object.entries(e.byScenario)
    .map(([k, v]) => `${k} ~${v < 90 ? `${v} s` : `${Math.round(v / 60)} min`}`)
    .join(", ") +
  ")"
