/**
 * The service's metrics, on Effect's global metric registry; /metrics renders them with
 * ./prometheus.ts. Label values should come from small fixed sets (room kind, store name,
 * operation name, error code): every distinct value is a new series kept forever.
 */
import { Clock, Effect, Exit, Metric, MetricBoundaries } from "effect"

export const messagesSent = Metric.counter("chat_messages_sent_total", {
  description: "Messages committed, by room type and store.",
  incremental: true
})

// Seconds, 0.5 ms to 5 s: an embedded PGlite read is sub-millisecond, a contended
// cross-region Scylla write can take seconds; slower than 5 s lands in +Inf.
export const STORE_QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const

export const storeQueryDuration = Metric.histogram(
  "chat_store_query_duration_seconds",
  MetricBoundaries.fromIterable(STORE_QUERY_BUCKETS),
  "Store call latency in seconds, by operation and store (failures included)."
)

export const wsConnections = Metric.gauge("chat_ws_connections", { description: "Open WebSocket connections." })

export const roomActorsActive = Metric.gauge("chat_room_actors_active", { description: "Room actors currently running on this node." })

export const roomActorRestarts = Metric.counter("chat_room_actor_restarts_total", {
  description: "Room actors restarted by their supervisor after a failure.",
  incremental: true
})

export const wsMessagesIn = Metric.counter("chat_ws_messages_in_total", {
  description: "WebSocket frames received from clients.",
  incremental: true
})

export const wsDroppedSlowConsumers = Metric.counter("chat_ws_dropped_slow_consumers_total", {
  description: "WebSocket clients disconnected because their outbound buffer was full.",
  incremental: true
})

export const rateLimited = Metric.counter("chat_rate_limited_total", {
  description: "Requests refused with rate_limited.",
  incremental: true
})

export const errors = Metric.counter("chat_errors_total", {
  description: "Errors returned to clients, by protocol error code.",
  incremental: true
})

/** Metrics without labels: registered up front so they read 0 before their first event. */
export const unlabelledMetrics = [wsConnections, roomActorsActive, roomActorRestarts, wsMessagesIn, wsDroppedSlowConsumers, rateLimited] as const

// Reading a metric's value registers it; the cast only erases counter/gauge differences.
export const registerUnlabelled: Effect.Effect<void> = Effect.forEach(
  unlabelledMetrics,
  (m) => Metric.value(m as Metric.Metric<unknown, unknown, unknown>),
  { discard: true }
)

export const messageSent = (roomType: string, store: string): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(Metric.tagged(messagesSent, "room_type", roomType), "store", store))

/**
 * chat_messages_sent_total{room_type, store} for one store, as plain code for the commit
 * path: the tagged counters are made once per room type, not per batch.
 */
export const sentCounter = (store: string): ((roomType: string, n: number) => void) => {
  const counters = new Map<string, Metric.Metric.Counter<number>>()
  return (roomType, n) => {
    let counter = counters.get(roomType)
    if (counter === undefined) {
      counter = Metric.tagged(Metric.tagged(messagesSent, "room_type", roomType), "store", store)
      counters.set(roomType, counter)
    }
    counter.unsafeUpdate(n, [])
  }
}

/**
 * Times `self` into chat_store_query_duration_seconds, on success and on failure alike (a
 * slow failing query is exactly what the histogram is for). Uses the Clock, so TestClock works.
 */
export const timeStoreQuery =
  (operation: string, store: string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const metric = Metric.tagged(Metric.tagged(storeQueryDuration, "operation", operation), "store", store)
    return Effect.flatMap(Clock.currentTimeNanos, (start) =>
      Effect.onExit(self, (_: Exit.Exit<A, E>) =>
        Effect.flatMap(Clock.currentTimeNanos, (end) => Metric.update(metric, Number(end - start) / 1e9))
      )
    )
  }

export const wsConnectionOpened: Effect.Effect<void> = Metric.increment(wsConnections)
export const wsConnectionClosed: Effect.Effect<void> = Metric.incrementBy(wsConnections, -1)
export const roomActorRestarted: Effect.Effect<void> = Metric.increment(roomActorRestarts)
export const slowConsumerDropped: Effect.Effect<void> = Metric.increment(wsDroppedSlowConsumers)
export const rateLimitedHit: Effect.Effect<void> = Metric.increment(rateLimited)
export const errorReturned = (code: string): Effect.Effect<void> => Metric.increment(Metric.tagged(errors, "code", code))
