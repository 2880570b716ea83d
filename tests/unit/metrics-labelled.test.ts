/** src/metrics/metrics.ts `labelled`: plain updates land in the same series as Metric.tagged ones. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries } from "effect"
import { labelled } from "../../src/metrics/metrics.ts"

describe("labelled metrics", () => {
  it.effect("labelled - a counter's and a histogram's updates are the tagged series', one series per label set", () =>
    Effect.gen(function* () {
      const name = `test_labelled_${crypto.randomUUID().replaceAll("-", "")}`
      const counter = Metric.counter(name, { incremental: true })
      const tagged = counter.pipe(Metric.tagged("route", "/x"), Metric.tagged("status", "200"))
      const plain = labelled(counter, { route: "/x", status: "200" })
      const other = labelled(counter, { route: "/y", status: "200" })
      plain(2)
      plain(3)
      other(7)
      tagged.unsafeUpdate(1, [])
      expect((yield* Metric.value(tagged)).count).toBe(6)
      expect((yield* Metric.value(counter.pipe(Metric.tagged("route", "/y"), Metric.tagged("status", "200")))).count).toBe(7)

      const histogram = Metric.histogram(`${name}_seconds`, MetricBoundaries.fromIterable([0.1, 1]))
      const time = labelled(histogram, { operation: "save_message", database: "postgres" })
      time(0.05)
      time(0.5)
      const state = yield* Metric.value(histogram.pipe(Metric.tagged("operation", "save_message"), Metric.tagged("database", "postgres")))
      expect(state.count).toBe(2)
      expect(state.sum).toBeCloseTo(0.55)
    }))
})
