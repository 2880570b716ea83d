import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries, TestClock } from "effect"
import * as M from "../../src/metrics/metrics.ts"
import { renderPrometheus } from "../../src/metrics/prometheus.ts"

// Effect metrics are global: every test uses label values (or names) no other test uses.
const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 10)}`

/** The lines of the exposition that mention `needle`. */
const linesWith = (text: string, needle: string) => text.split("\n").filter((l) => l.includes(needle))

describe("metrics", () => {
  it.effect("metrics - histogram buckets are cumulative, end in +Inf, with _sum and _count", () =>
    Effect.gen(function* () {
      const store = unique("hist")
      const observe = (seconds: number) =>
        M.timeStoreQuery("append", store)(TestClock.adjust(`${seconds * 1000} millis`))
      // 0.3 ms, 3 ms, 3 ms, 0.2 s, 7 s
      for (const s of [0.0003, 0.003, 0.003, 0.2, 7]) yield* observe(s)
      const text = yield* renderPrometheus
      const labels = `operation="append",store="${store}"`
      expect(linesWith(text, store)).toEqual([
        `chat_store_query_duration_seconds_bucket{${labels},le="0.0005"} 1`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.001"} 1`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.0025"} 1`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.005"} 3`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.01"} 3`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.025"} 3`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.05"} 3`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.1"} 3`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.25"} 4`,
        `chat_store_query_duration_seconds_bucket{${labels},le="0.5"} 4`,
        `chat_store_query_duration_seconds_bucket{${labels},le="1"} 4`,
        `chat_store_query_duration_seconds_bucket{${labels},le="2.5"} 4`,
        `chat_store_query_duration_seconds_bucket{${labels},le="5"} 4`,
        `chat_store_query_duration_seconds_bucket{${labels},le="+Inf"} 5`,
        `chat_store_query_duration_seconds_sum{${labels}} ${0.0003 + 0.003 + 0.003 + 0.2 + 7}`,
        `chat_store_query_duration_seconds_count{${labels}} 5`
      ])
      expect(text).toContain("# TYPE chat_store_query_duration_seconds histogram\n")
      expect(text).toContain("# HELP chat_store_query_duration_seconds Store call latency in seconds")
    }))

  it.effect("metrics - a failing store call is timed too", () =>
    Effect.gen(function* () {
      const store = unique("fail")
      yield* M.timeStoreQuery("read", store)(Effect.zipRight(TestClock.adjust("2 millis"), Effect.fail("boom"))).pipe(Effect.flip)
      const text = yield* renderPrometheus
      expect(text).toContain(`chat_store_query_duration_seconds_count{operation="read",store="${store}"} 1`)
      expect(text).toContain(`chat_store_query_duration_seconds_bucket{operation="read",store="${store}",le="0.0025"} 1`)
    }))

  it.effect("metrics - counters render with their labels and TYPE counter", () =>
    Effect.gen(function* () {
      const store = unique("cnt")
      yield* M.messageSent("group", store)
      yield* M.messageSent("group", store)
      yield* M.messageSent("direct", store)
      const text = yield* renderPrometheus
      expect(linesWith(text, store)).toEqual([
        `chat_messages_sent_total{room_type="direct",store="${store}"} 1`,
        `chat_messages_sent_total{room_type="group",store="${store}"} 2`
      ])
      expect(text).toContain("# TYPE chat_messages_sent_total counter\n")
    }))

  it.effect("metrics - label values are escaped", () =>
    Effect.gen(function* () {
      const code = `${unique("esc")} a"b\\c\nd`
      yield* M.errorReturned(code)
      const text = yield* renderPrometheus
      const escaped = code.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
      expect(text).toContain(`chat_errors_total{code="${escaped}"} 1\n`)
    }))

  it.effect("metrics - HELP text is escaped and names are sanitised", () =>
    Effect.gen(function* () {
      const name = unique("test.odd")
      yield* Metric.increment(Metric.counter(name, { description: "line one\nback\\slash", incremental: true }))
      const text = yield* renderPrometheus
      const safe = name.replace(/[^a-zA-Z0-9_:]/g, "_")
      expect(text).toContain(`# HELP ${safe} line one\\nback\\\\slash\n# TYPE ${safe} counter\n${safe} 1\n`)
    }))

  it.effect("metrics - a counter that may decrease is exposed as a gauge", () =>
    Effect.gen(function* () {
      const name = unique("updown").replace(/-/g, "_")
      const c = Metric.counter(name)
      yield* Metric.incrementBy(c, 3)
      yield* Metric.incrementBy(c, -1)
      const text = yield* renderPrometheus
      expect(text).toContain(`# TYPE ${name} gauge\n${name} 2\n`)
    }))

  it.effect("metrics - unlabelled metrics are exposed before their first event", () =>
    Effect.gen(function* () {
      const text = yield* renderPrometheus
      for (const name of ["chat_ws_connections", "chat_room_actors_active", "chat_room_actor_restarts_total", "chat_ws_messages_in_total", "chat_ws_dropped_slow_consumers_total", "chat_rate_limited_total"]) {
        expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"))
        expect(text).toMatch(new RegExp(`^${name} -?\\d+$`, "m"))
      }
    }))

  it.effect("metrics - gauges go up and down", () =>
    Effect.gen(function* () {
      const before = (yield* Metric.value(M.wsConnections)).value
      yield* M.wsConnectionOpened
      yield* M.wsConnectionOpened
      yield* M.wsConnectionClosed
      const text = yield* renderPrometheus
      expect(text).toContain("# TYPE chat_ws_connections gauge\n")
      expect(text).toContain(`\nchat_ws_connections ${before + 1}\n`)
    }))

  it.effect("metrics - every family has HELP then TYPE, and every sample line is well-formed", () =>
    Effect.gen(function* () {
      yield* Metric.update(Metric.tagged(Metric.histogram(unique("h"), MetricBoundaries.fromIterable([1, 2])), "k", "v"), 1.5)
      const text = yield* renderPrometheus
      expect(text.endsWith("\n")).toBe(true)
      const lines = text.trimEnd().split("\n")
      const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/
      const seen = new Set<string>()
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]
        if (line.startsWith("# HELP ")) {
          const name = line.split(" ")[2]
          expect(seen.has(name)).toBe(false)
          seen.add(name)
          expect(lines[i + 1]).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram|summary)$`))
        } else if (!line.startsWith("# TYPE ")) {
          expect(line).toMatch(sample)
        }
      }
    }))
})
