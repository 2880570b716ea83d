/**
 * Prometheus text exposition (format 0.0.4) of Effect's metric registry, for GET /metrics.
 *
 * Effect's histogram state already holds cumulative bucket counts with +Inf as the last
 * boundary (MetricBoundaries.fromIterable appends it; hook.ts sums as it goes), which is
 * exactly Prometheus's `_bucket{le}` shape; a +Inf line is still added if one is missing.
 */
import { Effect, Metric, MetricKeyType, MetricState, Option } from "effect"
import type { MetricPair } from "effect"
import { catalog, registerUnlabelled } from "./metrics.ts"

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

type Kind = "counter" | "gauge" | "histogram" | "summary"

interface Family {
  readonly name: string
  readonly kind: Kind
  readonly help: string
  readonly lines: Array<{ readonly sortKey: string; readonly text: string }>
}

// Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]*, label names: [a-zA-Z_][a-zA-Z0-9_]*.
const metricName = (s: string) => s.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1")
const labelName = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([0-9])/, "_$1")
const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

export const formatNumber = (n: number | bigint): string => {
  if (typeof n === "bigint") return n.toString()
  if (Number.isNaN(n)) return "NaN"
  if (n === Infinity) return "+Inf"
  if (n === -Infinity) return "-Inf"
  return String(n)
}

const labelSet = (labels: ReadonlyArray<readonly [string, string]>) =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${labelName(k)}="${escapeLabel(v)}"`).join(",")}}`

const kindOf = (state: MetricState.MetricState.Untyped): Kind | "frequency" | undefined =>
  MetricState.isCounterState(state)
    ? "counter"
    : MetricState.isGaugeState(state)
      ? "gauge"
      : MetricState.isHistogramState(state)
        ? "histogram"
        : MetricState.isSummaryState(state)
          ? "summary"
          : MetricState.isFrequencyState(state)
            ? "frequency"
            : undefined

/** The sample lines of one series (one metric key: name plus tags). */
const seriesLines = (name: string, tags: ReadonlyArray<readonly [string, string]>, state: MetricState.MetricState.Untyped): Array<string> => {
  const l = (extra: ReadonlyArray<readonly [string, string]> = []) => labelSet([...tags, ...extra])
  if (MetricState.isCounterState(state)) return [`${name}${l()} ${formatNumber(state.count)}`]
  if (MetricState.isGaugeState(state)) return [`${name}${l()} ${formatNumber(state.value)}`]
  if (MetricState.isHistogramState(state)) {
    const buckets = state.buckets.map(([le, cumulative]) => `${name}_bucket${l([["le", formatNumber(le)]])} ${cumulative}`)
    if (!state.buckets.some(([le]) => le === Infinity)) buckets.push(`${name}_bucket${l([["le", "+Inf"]])} ${state.count}`)
    return [...buckets, `${name}_sum${l()} ${formatNumber(state.sum)}`, `${name}_count${l()} ${state.count}`]
  }
  if (MetricState.isSummaryState(state)) {
    const quantiles = state.quantiles.map(
      ([q, v]) => `${name}${l([["quantile", formatNumber(q)]])} ${formatNumber(Option.getOrElse(v, () => NaN))}`
    )
    return [...quantiles, `${name}_sum${l()} ${formatNumber(state.sum)}`, `${name}_count${l()} ${state.count}`]
  }
  if (MetricState.isFrequencyState(state)) {
    // A frequency is a counter per observed word; the word becomes the "key" label.
    return [...state.occurrences].map(([word, count]) => `${name}${l([["key", word]])} ${count}`)
  }
  return []
}

/**
 * Renders a snapshot; pure, so tests can feed it hand-made pairs. `declared` families are
 * written (HELP and TYPE) even before their first sample, so a dashboard query names a
 * series the node exports from the start.
 */
export const renderSnapshot = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  declared: ReadonlyArray<{ readonly name: string; readonly type: Kind; readonly help: string }> = []
): string => {
  const families = new Map<string, Family>()
  for (const d of declared) families.set(d.name, { name: d.name, kind: d.type, help: d.help, lines: [] })
  for (const { metricKey, metricState } of pairs) {
    const stateKind = kindOf(metricState)
    if (stateKind === undefined) continue
    // A counter made without `incremental: true` may go down (effect_fiber_active does):
    // Prometheus would read a decrease as a counter reset, so expose it as a gauge.
    const kind: Kind =
      stateKind === "frequency"
        ? "counter"
        : stateKind === "counter" && MetricKeyType.isCounterKey(metricKey.keyType) && !metricKey.keyType.incremental
          ? "gauge"
          : stateKind
    const name = metricName(metricKey.name)
    const family = families.get(name) ?? { name, kind, help: Option.getOrElse(metricKey.description, () => name), lines: [] }
    // One name, one type: a clash (two libraries, one name) would make the whole page invalid.
    if (family.kind !== kind) continue
    families.set(name, family)
    const tags = [...metricKey.tags]
      .map((t) => [t.key, t.value] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    family.lines.push({ sortKey: labelSet(tags), text: seriesLines(name, tags, metricState).join("\n") })
  }
  const out: Array<string> = []
  for (const family of [...families.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.kind}`)
    for (const line of family.lines.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))) {
      if (line.text !== "") out.push(line.text)
    }
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

const exported = new Set(catalog.map((d) => d.name))

/**
 * The service's series as Prometheus text, ready to serve with CONTENT_TYPE. Only the
 * series in the catalog (docs/metrics.md) are exported: whatever else lands in Effect's
 * global registry (a library's or the runtime's own) stays out, so every exported series
 * is documented.
 */
export const renderPrometheus: Effect.Effect<string> = Effect.zipRight(
  registerUnlabelled,
  Effect.map(Metric.snapshot, (pairs) =>
    renderSnapshot(
      pairs.filter((p) => exported.has(p.metricKey.name)),
      catalog
    )
  )
)
