/**
 * The service's metrics, on Effect's global metric registry; /metrics renders them with
 * ./prometheus.ts and docs/metrics.md is generated from `catalog` (./render-docs.ts).
 *
 * The first three carry the names and labels of the system this one replaces, so its
 * dashboards and alert rules work unchanged: chat_messages_sent_total{room_type,database},
 * chat_query_duration_seconds{operation,database}, chat_active_connections{client_type}.
 *
 * Label values come from small fixed sets (room kind, database, operation, error code,
 * route, dependency): every distinct value is a new series kept forever.
 */
import { Effect, Exit, Metric, MetricBoundaries, MetricLabel } from "effect"

export type MetricType = "counter" | "gauge" | "histogram"

export interface MetricDoc {
  readonly name: string
  readonly type: MetricType
  /** The HELP text: what the series measures, with its unit. */
  readonly help: string
  readonly labels: ReadonlyArray<string>
  /** What an operator does when it moves. */
  readonly action: string
  /** Registered at start with this value (unlabelled series), so it reads 0 before its first event. */
  readonly eager?: boolean
}

const docs: Array<MetricDoc> = []

/** Every series the node exports, in the order they are defined. Nothing else is exported. */
export const catalog: ReadonlyArray<MetricDoc> = docs

const counter = (doc: Omit<MetricDoc, "type">) => {
  docs.push({ ...doc, type: "counter" })
  return Metric.counter(doc.name, { description: doc.help, incremental: true })
}
const gauge = (doc: Omit<MetricDoc, "type">) => {
  docs.push({ ...doc, type: "gauge" })
  return Metric.gauge(doc.name, { description: doc.help })
}
const histogram = (doc: Omit<MetricDoc, "type">, buckets: ReadonlyArray<number>) => {
  docs.push({ ...doc, type: "histogram" })
  return Metric.histogram(doc.name, MetricBoundaries.fromIterable(buckets), doc.help)
}

// Seconds, 0.5 ms to 5 s: an embedded PGlite read is sub-millisecond, a contended
// cross-region Scylla write can take seconds; slower than 5 s lands in +Inf.
export const STORE_QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const

// --- the original system's series --------------------------------------------------------

export const messagesSent = counter({
  name: "chat_messages_sent_total",
  help: "Messages committed, by room type (direct, group) and the database that stored them (postgres, scylla, pglite, memory).",
  labels: ["room_type", "database"],
  action:
    "Throughput. A drop to zero while connections stay up means sends fail: check chat_errors_total and the circuits. In dual mode the database is postgres (the primary)."
})

export const queryDuration = histogram(
  {
    name: "chat_query_duration_seconds",
    help: "Database call latency in seconds, by operation (save_message, get_messages, ...) and the database that ran it; failures included.",
    labels: ["operation", "database"],
    action:
      "p99 of save_message over 0.5 s fires HighQueryLatency: look at the database's own load and at chat_circuit_state. In dual mode compare database=\"postgres\" with database=\"scylla\"."
  },
  STORE_QUERY_BUCKETS
)

export const activeConnections = gauge({
  name: "chat_active_connections",
  help: "Open client connections on this node, by client type (websocket).",
  labels: ["client_type"],
  action: "Load per node. A node far above the others after a deploy is normal (clients reconnect); a sudden drop to 0 on every node means the load balancer or the gateway is down."
})

// --- rooms and clients ---------------------------------------------------------------------

export const roomActorsActive = gauge({
  name: "chat_room_actors_active",
  help: "Room actors currently running on this node.",
  labels: [],
  eager: true,
  action: "Grows with active rooms; idle actors passivate. Steady growth without traffic means passivation is stuck."
})

export const roomActorRestarts = counter({
  name: "chat_room_actor_restarts_total",
  help: "Room actors restarted by their supervisor after a failure.",
  labels: [],
  eager: true,
  action: "ActorRestarts fires above 0.1/s: an actor keeps failing, usually on its database; check the logs for the room and chat_circuit_state."
})

export const wsMessagesIn = counter({
  name: "chat_ws_messages_in_total",
  help: "WebSocket frames received from clients.",
  labels: [],
  eager: true,
  action: "Inbound load. Compare with chat_messages_sent_total: frames that are not sends are reads, typing and pings."
})

export const wsDroppedSlowConsumers = counter({
  name: "chat_ws_dropped_slow_consumers_total",
  help: "WebSocket clients disconnected because their outbound buffer was full.",
  labels: [],
  eager: true,
  action: "SlowConsumersCutOff fires above 1/s: clients on bad networks, or this node is too slow to write to sockets (CPU)."
})

export const rateLimited = counter({
  name: "chat_rate_limited_total",
  help: "Requests refused with rate_limited.",
  labels: [],
  eager: true,
  action: "A client floods, or CHAT_SEND_RATE is too low for real use."
})

export const errors = counter({
  name: "chat_errors_total",
  help: "Errors returned to clients, by protocol error code.",
  labels: ["code"],
  action: "HighErrorRate fires when internal, unavailable and timeout are over 5% of requests: see which code, then the circuits and the logs."
})

// --- HTTP ----------------------------------------------------------------------------------

export const httpRequests = counter({
  name: "chat_http_requests_total",
  help: "HTTP requests answered, by route pattern, method and status code.",
  labels: ["route", "method", "status"],
  action: "5xx on /v1/* routes feed HighErrorRate; 503 on /readyz means the node takes no traffic (see its body)."
})

export const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const
export const httpDuration = histogram(
  {
    name: "chat_http_request_duration_seconds",
    help: "HTTP request latency in seconds, by route pattern.",
    labels: ["route"],
    action: "Slow REST: compare with chat_query_duration_seconds to see whether the database is the cause."
  },
  HTTP_BUCKETS
)

// --- cluster -------------------------------------------------------------------------------

export const shardsHeld = gauge({
  name: "chat_cluster_shards_held",
  help: "Shards whose lease this node holds (clustered mode).",
  labels: [],
  action: "Sums to chat_cluster_shards across live nodes. ShardsWithoutOwner fires when the sum stays below it: a node lost NATS or cannot fence."
})

export const shardsTotal = gauge({
  name: "chat_cluster_shards",
  help: "The cluster's shard count (CHAT_SHARDS), as this node sees it (clustered mode).",
  labels: [],
  action: "Constant; the reference for chat_cluster_shards_held."
})

export const liveNodes = gauge({
  name: "chat_cluster_live_nodes",
  help: "Nodes this node sees alive in the cluster (heartbeats in NATS), itself included.",
  labels: [],
  action: "Nodes disagree for a few seconds after a join or crash; a lasting disagreement means a node lost NATS."
})

export const shardHandovers = counter({
  name: "chat_cluster_shard_handovers_total",
  help: "Shard hand-overs on this node, by kind (acquired, released).",
  labels: ["kind"],
  action: "LeaseChurn fires above 1/s over 10 minutes: nodes flap (NATS unstable, nodes restarting, clocks paused)."
})

export const leaseRenewalFailures = counter({
  name: "chat_cluster_lease_renewal_failures_total",
  help: "Shard lease renewals that failed (NATS unreachable or the lease taken over).",
  labels: [],
  action: "Any rate above zero means NATS trouble; leases lost follow when it lasts a fifth of CHAT_LEASE_MS."
})

export const FORWARD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const
export const forwardedCommands = counter({
  name: "chat_cluster_forwarded_commands_total",
  help: "Commands forwarded over NATS to the node owning the room's shard, by outcome (ok, error).",
  labels: ["outcome"],
  action: "Normal in clustered mode (a client's room lives on some other node). A rising error share means hand-overs or NATS trouble."
})

export const forwardDuration = histogram(
  {
    name: "chat_cluster_forward_duration_seconds",
    help: "Latency in seconds of commands forwarded to the owning node, retries across hand-overs included.",
    labels: [],
    action: "The NATS round trip plus the owner's commit; compare with chat_query_duration_seconds."
  },
  FORWARD_BUCKETS
)

// --- dual-write outbox ---------------------------------------------------------------------

export const outboxEntries = gauge({
  name: "chat_dual_outbox_entries",
  help: "Copies to ScyllaDB waiting in the dual-write outbox (CHAT_STORE=dual), every node's entries.",
  labels: [],
  action: "Near zero when ScyllaDB keeps up. Growing: ScyllaDB is down or slow (chat_circuit_state{dependency=\"scylla\"}); nothing is lost, the copies wait."
})

export const outboxOldestAge = gauge({
  name: "chat_dual_outbox_oldest_age_seconds",
  help: "Age in seconds of the oldest entry in the dual-write outbox; 0 when it is empty.",
  labels: [],
  action: "OutboxLag fires above 60 s for 5 minutes: ScyllaDB lags. Do not switch reads to ScyllaDB (CHAT_DUAL_READ) until it is back near 0."
})

// --- push ----------------------------------------------------------------------------------

export const pushPublished = counter({
  name: "chat_push_intents_published_total",
  help: "Push intents published to JetStream for offline members.",
  labels: [],
  action: "Follows message traffic to offline users."
})

export const pushFailed = counter({
  name: "chat_push_intents_failed_total",
  help: "Push intents that could not be published (JetStream unavailable); the message itself is stored and delivered.",
  labels: [],
  action: "Offline users miss notifications: check the JetStream stream and NATS."
})

// --- dependencies --------------------------------------------------------------------------

export const circuitState = gauge({
  name: "chat_circuit_state",
  help: "Circuit breaker state per dependency (the database that commits: postgres, scylla or pglite; nats in clustered mode): 0 closed, 1 half-open, 2 open.",
  labels: ["dependency"],
  action: "CircuitOpen fires when one stays open for 1 minute: the dependency is down; requests that need it fail fast with unavailable. The node recovers by itself when it is back."
})

export const circuitRejected = counter({
  name: "chat_circuit_rejected_total",
  help: "Calls refused at once because the dependency's circuit was open.",
  labels: ["dependency"],
  action: "How many requests the open circuit answered with unavailable."
})

export const dependencyUp = gauge({
  name: "chat_dependency_up",
  help: "1 when the dependency answered the node's last probe (every 5 s), 0 when not; by dependency (postgres, scylla, nats, redis).",
  labels: ["dependency"],
  action: "DatabaseConnectionFailure fires when postgres or scylla reads 0 for 1 minute: check the database and the network between it and the nodes."
})

// --- runtime -------------------------------------------------------------------------------

export const eventLoopDelay = gauge({
  name: "chat_runtime_event_loop_delay_seconds",
  help: "Largest event-loop delay in seconds seen since the previous scrape (a 100 ms timer's lateness).",
  labels: [],
  eager: true,
  action: "Above 0.1 s the node is CPU-bound or blocked: every socket on it waits. Add nodes or find the blocking work."
})

export const heapUsed = gauge({
  name: "chat_runtime_heap_used_bytes",
  help: "JavaScript heap in use, in bytes.",
  labels: [],
  eager: true,
  action: "Should stay flat under steady load; steady growth is a leak (or buffers of slow clients: see chat_ws_dropped_slow_consumers_total)."
})

export const residentMemory = gauge({
  name: "chat_runtime_resident_memory_bytes",
  help: "Resident set size of the process, in bytes.",
  labels: [],
  eager: true,
  action: "Compare with the container's memory limit."
})

export const gcPause = counter({
  name: "chat_runtime_gc_pause_seconds_total",
  help: "Time in seconds spent in garbage collection pauses (Node; 0 on Deno, which does not report them).",
  labels: [],
  eager: true,
  action: "rate() over 0.1 means a tenth of the time goes to GC: heap pressure."
})

export const uptime = gauge({
  name: "chat_process_start_time_seconds",
  help: "Start time of the process, Unix seconds.",
  labels: [],
  eager: true,
  action: "Restarts show as jumps."
})

/** Metrics without labels: registered up front so they read 0 before their first event. */
export const unlabelledMetrics = [
  roomActorsActive,
  roomActorRestarts,
  wsMessagesIn,
  wsDroppedSlowConsumers,
  rateLimited,
  eventLoopDelay,
  heapUsed,
  residentMemory,
  gcPause,
  uptime
] as const

// Reading a metric's value registers it; the cast only erases counter/gauge differences.
export const registerUnlabelled: Effect.Effect<void> = Effect.forEach(
  unlabelledMetrics,
  (m) => Metric.value(m as Metric.Metric<unknown, unknown, unknown>),
  { discard: true }
)

export const messageSent = (roomType: string, database: string): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(Metric.tagged(messagesSent, "room_type", roomType), "database", database))

/**
 * chat_messages_sent_total{room_type, database} for one database, as plain code for the
 * commit path: the tagged counters are made once per room type, not per batch.
 */
export const sentCounter = (database: string): ((roomType: string, n: number) => void) => {
  const counters = new Map<string, (n: number) => void>()
  return (roomType, n) => {
    let counter = counters.get(roomType)
    if (counter === undefined) {
      counter = labelled(messagesSent, { room_type: roomType, database })
      counters.set(roomType, counter)
    }
    counter(n)
  }
}

/**
 * A plain updater of one labelled series of `metric` (a metric made by Metric.counter,
 * gauge or histogram, not a tagged one). Effect finds a series' hook by the identity of the
 * labels array it is given and builds a new key (hashing and formatting every label) for
 * any other array; `Metric.tagged` passes a new array on every update. Passing the same
 * array each time makes an update a cache hit: this matters on paths run per batch.
 */
export const labelled = <T, In, Out>(metric: Metric.Metric<T, In, Out>, labels: Readonly<Record<string, string>>): ((value: In) => void) => {
  const tags = Object.entries(labels).map(([key, value]) => MetricLabel.make(key, value))
  return (value) => metric.unsafeUpdate(value, tags)
}

/**
 * Times `self` into chat_query_duration_seconds, on success and on failure alike (a slow
 * failing query is exactly what the histogram is for). Uses the Clock, so TestClock works.
 */
export const timeQuery =
  (operation: string, database: string) => {
    const record = queryRecorder(operation, database)
    return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.clockWith((clock) => {
        const start = clock.unsafeCurrentTimeNanos()
        return Effect.onExit(self, (_: Exit.Exit<A, E>) =>
          Effect.sync(() => record(Number(clock.unsafeCurrentTimeNanos() - start) / 1e9))
        )
      })
  }

/**
 * chat_query_duration_seconds for one operation, as a plain recorder (seconds): for the
 * room actor's plain commit, which runs no Effect to time.
 */
export const queryRecorder = (operation: string, database: string): ((seconds: number) => void) =>
  labelled(queryDuration, { operation, database })

/** The gauge of one client type; made once per type by the caller. */
export const connectionsOf = (clientType: "websocket" | "connect_stream" | "socketio") =>
  Metric.tagged(activeConnections, "client_type", clientType)

export const roomActorRestarted: Effect.Effect<void> = Metric.increment(roomActorRestarts)
export const slowConsumerDropped: Effect.Effect<void> = Metric.increment(wsDroppedSlowConsumers)
export const errorReturned = (code: string): Effect.Effect<void> => Metric.increment(Metric.tagged(errors, "code", code))

/**
 * chat_errors_total{code} (and chat_rate_limited_total for rate_limited) as plain code: called
 * for every error answered, which under a flood of refused sends is per frame.
 */
export const countError = (() => {
  const byCode = new Map<string, (n: number) => void>()
  const limited = labelled(rateLimited, {})
  return (code: string): void => {
    let counter = byCode.get(code)
    if (counter === undefined) byCode.set(code, (counter = labelled(errors, { code })))
    counter(1)
    if (code === "rate_limited") limited(1)
  }
})()
