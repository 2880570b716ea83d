import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries, TestClock } from "effect"
import * as M from "../../src/metrics/metrics.ts"
import { withMetrics } from "../../src/metrics/instrumentedStore.ts"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import { renderPrometheus, renderSnapshot } from "../../src/metrics/prometheus.ts"

/** The whole registry, catalog or not (renderPrometheus exports the catalog only). */
const renderAll = Effect.map(Metric.snapshot, (pairs) => renderSnapshot(pairs))

// Effect metrics are global: every test uses label values (or names) no other test uses.
const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 10)}`

/** The lines of the exposition that mention `needle`. */
const linesWith = (text: string, needle: string) => text.split("\n").filter((l) => l.includes(needle))

describe("metrics", () => {
  it.effect("metrics - histogram buckets are cumulative, end in +Inf, with _sum and _count", () =>
    Effect.gen(function* () {
      const store = unique("hist")
      const observe = (seconds: number) =>
        M.timeQuery("append", store)(TestClock.adjust(`${seconds * 1000} millis`))
      // 0.3 ms, 3 ms, 3 ms, 0.2 s, 7 s
      for (const s of [0.0003, 0.003, 0.003, 0.2, 7]) yield* observe(s)
      const text = yield* renderPrometheus
      const labels = `database="${store}",operation="append"`
      expect(linesWith(text, store)).toEqual([
        `chat_query_duration_seconds_bucket{${labels},le="0.0005"} 1`,
        `chat_query_duration_seconds_bucket{${labels},le="0.001"} 1`,
        `chat_query_duration_seconds_bucket{${labels},le="0.0025"} 1`,
        `chat_query_duration_seconds_bucket{${labels},le="0.005"} 3`,
        `chat_query_duration_seconds_bucket{${labels},le="0.01"} 3`,
        `chat_query_duration_seconds_bucket{${labels},le="0.025"} 3`,
        `chat_query_duration_seconds_bucket{${labels},le="0.05"} 3`,
        `chat_query_duration_seconds_bucket{${labels},le="0.1"} 3`,
        `chat_query_duration_seconds_bucket{${labels},le="0.25"} 4`,
        `chat_query_duration_seconds_bucket{${labels},le="0.5"} 4`,
        `chat_query_duration_seconds_bucket{${labels},le="1"} 4`,
        `chat_query_duration_seconds_bucket{${labels},le="2.5"} 4`,
        `chat_query_duration_seconds_bucket{${labels},le="5"} 4`,
        `chat_query_duration_seconds_bucket{${labels},le="+Inf"} 5`,
        `chat_query_duration_seconds_sum{${labels}} ${0.0003 + 0.003 + 0.003 + 0.2 + 7}`,
        `chat_query_duration_seconds_count{${labels}} 5`
      ])
      expect(text).toContain("# TYPE chat_query_duration_seconds histogram\n")
      expect(text).toContain("# HELP chat_query_duration_seconds Database call latency in seconds")
    }))

  it.effect("metrics - a failing store call is timed too", () =>
    Effect.gen(function* () {
      const store = unique("fail")
      yield* M.timeQuery("read", store)(Effect.zipRight(TestClock.adjust("2 millis"), Effect.fail("boom"))).pipe(Effect.flip)
      const text = yield* renderPrometheus
      expect(text).toContain(`chat_query_duration_seconds_count{database="${store}",operation="read"} 1`)
      expect(text).toContain(`chat_query_duration_seconds_bucket{database="${store}",operation="read",le="0.0025"} 1`)
    }))

  it.effect("metrics - counters render with their labels and TYPE counter", () =>
    Effect.gen(function* () {
      const store = unique("cnt")
      yield* M.messageSent("group", store)
      yield* M.messageSent("group", store)
      yield* M.messageSent("direct", store)
      const text = yield* renderPrometheus
      expect(linesWith(text, store)).toEqual([
        `chat_messages_sent_total{database="${store}",room_type="direct"} 1`,
        `chat_messages_sent_total{database="${store}",room_type="group"} 2`
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
      const text = yield* renderAll
      const safe = name.replace(/[^a-zA-Z0-9_:]/g, "_")
      expect(text).toContain(`# HELP ${safe} line one\\nback\\\\slash\n# TYPE ${safe} counter\n${safe} 1\n`)
    }))

  it.effect("metrics - a counter that may decrease is exposed as a gauge", () =>
    Effect.gen(function* () {
      const name = unique("updown").replace(/-/g, "_")
      const c = Metric.counter(name)
      yield* Metric.incrementBy(c, 3)
      yield* Metric.incrementBy(c, -1)
      const text = yield* renderAll
      expect(text).toContain(`# TYPE ${name} gauge\n${name} 2\n`)
    }))

  it.effect("metrics - unlabelled metrics are exposed before their first event", () =>
    Effect.gen(function* () {
      const text = yield* renderPrometheus
      for (const name of ["chat_room_actors_active", "chat_room_actor_restarts_total", "chat_ws_messages_in_total", "chat_ws_dropped_slow_consumers_total", "chat_rate_limited_total"]) {
        expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"))
        expect(text).toMatch(new RegExp(`^${name} -?\\d+$`, "m"))
      }
    }))

  it.effect("metrics - gauges go up and down", () =>
    Effect.gen(function* () {
      const gauge = M.connectionsOf("websocket")
      const before = (yield* Metric.value(gauge)).value
      yield* Metric.increment(gauge)
      yield* Metric.increment(gauge)
      yield* Metric.incrementBy(gauge, -1)
      const text = yield* renderPrometheus
      expect(text).toContain("# TYPE chat_active_connections gauge\n")
      expect(text).toContain(`\nchat_active_connections{client_type="websocket"} ${before + 1}\n`)
    }))

  it.effect("metrics - every family has HELP then TYPE, and every sample line is well-formed", () =>
    Effect.gen(function* () {
      yield* Metric.update(Metric.tagged(Metric.histogram(unique("h"), MetricBoundaries.fromIterable([1, 2])), "k", "v"), 1.5)
      const text = yield* renderAll
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

  it.effect("metrics - only catalogued series are exported, each with its HELP and TYPE even before a sample", () =>
    Effect.gen(function* () {
      yield* Metric.increment(Metric.counter(unique("not_catalogued").replace(/-/g, "_"), { incremental: true }))
      const text = yield* renderPrometheus
      const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]])
      expect(families.map(([n]) => n).sort()).toEqual(M.catalog.map((d) => d.name).sort())
      for (const d of M.catalog) {
        expect(families).toContainEqual([d.name, d.type])
        expect(text).toContain(`# HELP ${d.name} ${d.help}\n`)
      }
    }))

  it("metrics - names follow the conventions: chat_ prefix, counters end in _total, units in names", () => {
    for (const d of M.catalog) {
      expect(d.name).toMatch(/^chat_[a-z0-9_]+$/)
      if (d.type === "counter") expect(d.name).toMatch(/_total$/)
      else expect(d.name).not.toMatch(/_total$/)
      if (d.type === "histogram") expect(d.name).toMatch(/_seconds$/)
      expect(d.help.length).toBeGreaterThan(20)
      expect(d.action.length).toBeGreaterThan(10)
    }
  })

  it.effect("metrics - the original series carry the original labels", () =>
    Effect.gen(function* () {
      const db = unique("orig")
      yield* M.messageSent("group", db)
      yield* M.timeQuery("save_message", db)(Effect.void)
      const text = yield* renderPrometheus
      expect(text).toContain(`chat_messages_sent_total{database="${db}",room_type="group"} 1\n`)
      expect(text).toContain(`chat_query_duration_seconds_count{database="${db}",operation="save_message"} 1\n`)
      const byName = new Map(M.catalog.map((d) => [d.name, d.labels]))
      expect(byName.get("chat_messages_sent_total")).toEqual(["room_type", "database"])
      expect(byName.get("chat_query_duration_seconds")).toEqual(["operation", "database"])
      expect(byName.get("chat_active_connections")).toEqual(["client_type"])
    }))

  it.effect("metrics - the plain commits are timed as save_message, or react for a batch of reactions only (commitPreparedNow once its ops are made)", () =>
    Effect.gen(function* () {
      const name = unique("plain")
      const react = { _tag: "React", actor: "u", seq: 1, emoji: "x", remove: false } as const
      const send = { _tag: "Send", actor: "u", messageId: "m", clientMsgId: "c", body: "b" } as const
      const store = withMetrics({
        ...makeMemoryStore(),
        name,
        commitNow: (_r, _e, _m, _o, _s, done) => done(undefined, []),
        commitPreparedNow: (_r, _e, _m, _s, prepare, done) => {
          prepare()
          done(undefined, [])
        }
      })
      const members = new Map()
      store.commitNow!("r" as never, 0, members, [send as never], undefined, () => undefined)
      store.commitPreparedNow!("r" as never, 0, members, undefined, () => [send as never], () => undefined)
      store.commitPreparedNow!("r" as never, 0, members, undefined, () => [react as never], () => undefined)
      const text = yield* renderPrometheus
      expect(text).toContain(`chat_query_duration_seconds_count{database="${name}",operation="save_message"} 2\n`)
      expect(text).toContain(`chat_query_duration_seconds_count{database="${name}",operation="react"} 1\n`)
    }))
})
