/**
 * The NATS connection of a clustered node, wrapped once: connect (scoped; drained on
 * close), the JetStream KV buckets for node heartbeats and shard leases, and the push
 * stream. Promise failures become ClusterError here.
 */
import { Context, Data, Effect, Layer, Redacted, Runtime, type Scope } from "effect"
import { connect, type JetStreamClient, type KV, type NatsConnection, RetentionPolicy } from "nats"
import type { Subjects } from "./subjects.ts"

export class ClusterError extends Data.TaggedError("ClusterError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message() {
    return `NATS ${this.operation} failed: ${describe(this.cause)}`
  }
}

export const describe = (e: unknown): string =>
  e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}`.slice(0, 300) : String(e).slice(0, 300)

export const attempt = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, ClusterError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new ClusterError({ operation, cause }) })

/** A lease was written by someone else since our revision: the shard has another owner now. */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{ readonly key: string }> {}

// JetStream answers a KV update at a stale revision with "wrong last sequence" (error code 10071).
const isRevisionMismatch = (cause: unknown) => /wrong last sequence|10071/i.test(describe(cause))

/**
 * Renews a lease: `update` at the revision we last wrote. A revision mismatch is LeaseLost
 * (someone else holds it); anything else is a NATS outage (ClusterError).
 */
export const renewLease = (kv: KV, key: string, value: string, revision: number): Effect.Effect<number, LeaseLost | ClusterError> =>
  Effect.tryPromise({
    try: () => kv.update(key, value, revision),
    catch: (cause) => (isRevisionMismatch(cause) ? new LeaseLost({ key }) : new ClusterError({ operation: "renew lease", cause }))
  })

export interface NatsHandle {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly nodes: KV
  readonly leases: KV
  /** This cluster's names (CHAT_NATS_PREFIX). */
  readonly subjects: Subjects
}

/** The node's NATS connection, for the life of the layer (drained on close). */
export class Nats extends Context.Tag("chat/Nats")<Nats, NatsHandle>() {}

export interface NatsOptions {
  readonly url: Redacted.Redacted<string>
  readonly name: string
  readonly leaseMs: number
  readonly replicas: number
  /** The connection went down (false) or came back (true): drives the NATS circuit breaker. */
  readonly onStatus?: (up: boolean, detail: string) => void
  readonly subjects: Subjects
}

export const connectNats = (o: NatsOptions): Effect.Effect<NatsHandle, ClusterError, Scope.Scope> =>
  Effect.gen(function* () {
    const nc = yield* Effect.acquireRelease(
      attempt("connect", () =>
        connect({
          servers: Redacted.value(o.url).split(",").map((s) => s.trim()).filter(Boolean),
          name: o.name,
          // A node must survive NATS restarts and fail-overs: retry for ever, with jitter.
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 250,
          pingInterval: 5_000,
          maxPingOut: 2
        })
      ),
      (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
    )
    // An operator follows the connection: one line when it drops, one when it is back.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    yield* Effect.forkScoped(
      Effect.promise(async () => {
        for await (const status of nc.status()) {
          if (status.type === "disconnect") {
            o.onStatus?.(false, `connection to ${String(status.data)} lost`)
            runFork(Effect.logWarning("lost NATS connection; reconnecting").pipe(Effect.annotateLogs({ node: o.name, server: String(status.data) })))
          } else if (status.type === "reconnect") {
            o.onStatus?.(true, String(status.data))
            runFork(Effect.logInfo("NATS connection back").pipe(Effect.annotateLogs({ node: o.name, server: String(status.data) })))
          }
        }
      })
    )
    // JetStream calls (heartbeats, leases, push intents) that get no answer fail within a third
    // of the lease (at most 5 s, the client's default): after a NATS restart a node's loops are
    // not stuck behind calls sent into the outage, so nodes reappear and take their shards
    // back together.
    const jsTimeout = Math.min(5_000, Math.max(500, Math.floor(o.leaseMs / 3)))
    const js = nc.jetstream({ timeout: jsTimeout })
    // Entries not refreshed within the TTL vanish: a dead node's heartbeat and leases expire.
    const kvOptions = { history: 1, ttl: o.leaseMs, replicas: o.replicas, timeout: jsTimeout }
    const nodes = yield* attempt("kv nodes", () => js.views.kv(o.subjects.nodesBucket, kvOptions))
    const leases = yield* attempt("kv leases", () => js.views.kv(o.subjects.leasesBucket, kvOptions))
    const jsm = yield* attempt("jetstream manager", () => nc.jetstreamManager())
    yield* attempt("push stream", async () => {
      try {
        await jsm.streams.info(o.subjects.pushStream)
      } catch {
        await jsm.streams.add({
          name: o.subjects.pushStream,
          subjects: [o.subjects.pushAll],
          retention: RetentionPolicy.Limits,
          // A push worker that is down for a day loses nothing; older intents are stale anyway.
          max_age: 24 * 60 * 60 * 1e9,
          num_replicas: o.replicas
        })
      }
    })
    return { nc, js, nodes, leases, subjects: o.subjects }
  })

export const layer = (o: NatsOptions): Layer.Layer<Nats, ClusterError> => Layer.scoped(Nats, connectNats(o))
