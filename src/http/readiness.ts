/**
 * /readyz: what this node depends on, probed on each request. The store (and NATS in
 * clustered mode) decide readiness; Redis is reported but never makes the node unready:
 * without it the node keeps serving with local rate limits and a node-local (stale) view
 * of presence. Which probes apply follows from the services the node was composed with.
 */
import { Effect, Option } from "effect"
import { ChatStoreTag } from "../../storage/ChatStore.ts"
import { PresenceTag } from "../chat/Presence.ts"
import { MembershipTag } from "../cluster/Membership.ts"
import { Nats } from "../cluster/Nats.ts"
import { ShardLeasesTag } from "../cluster/ShardLeases.ts"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { RedisClientTag } from "../redis/RedisClient.ts"
import { type Breaker, describeCause, NatsBreaker, RedisBreaker, StoreBreaker } from "../resilience/Breaker.ts"
import { ConfiguredStore, copyBreakerOf } from "../store/select.ts"
import { withDualCheck } from "./dualReadiness.ts"

export interface Readiness {
  readonly ok: boolean
  readonly checks: Readonly<Record<string, "ok" | string>>
  /** Extra facts for operators (clustered mode: node id, live nodes, shards held). */
  readonly details?: Readonly<Record<string, unknown>>
}

/** Seconds a probe may take before it counts as failing. */
const PROBE_TIMEOUT = "2 seconds"
const REDIS_PROBE_TIMEOUT = "1 second"

// Reasons in words: the dependency, and the driver's error or the open circuit's cause.
const check = (name: string, title: string, probe: Effect.Effect<unknown, unknown>, breaker: Option.Option<Breaker>) =>
  probe.pipe(
    Effect.timeout(PROBE_TIMEOUT),
    Effect.match({
      onFailure: (e) =>
        [
          name,
          Option.isSome(breaker) && breaker.value.state() !== "closed"
            ? `failing: ${breaker.value.title} circuit ${breaker.value.state()} (${breaker.value.cause() ?? describeCause(e)})`
            : `failing: ${(e as { _tag?: string })._tag === "TimeoutException" ? `${title} did not answer within 2 s` : `${title}: ${describeCause(e)}`}`
        ] as const,
      onSuccess: () => [name, "ok"] as const
    })
  )

const TITLES: Record<string, string> = { postgres: "PostgreSQL", scylla: "ScyllaDB", pglite: "PGlite", dual: "PostgreSQL", memory: "the memory store" }
const storeTitle = (name: string) => TITLES[name] ?? name

/** Why Redis is not used, in words: its open circuit and the cause, or the PING's failure. */
const redisReason = (e: unknown, breaker: Option.Option<Breaker>): string => {
  if (Option.isSome(breaker) && breaker.value.state() !== "closed") {
    return `Redis circuit ${breaker.value.state()} (${breaker.value.cause() ?? "failing"})`
  }
  if ((e as { _tag?: string })._tag === "TimeoutException") return "Redis did not answer PING within 1 s"
  const cause = (e as { cause?: unknown }).cause
  return `Redis unreachable (${cause instanceof Error ? `${(cause as { code?: string }).code ?? cause.name}: ${cause.message}` : String(cause ?? e)})`.slice(0, 200)
}

/** The probe, from the services in context: built once when the gateway starts. */
export const makeReadiness = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  const store = yield* ChatStoreTag
  const presence = yield* PresenceTag
  const nats = yield* Effect.serviceOption(Nats)
  const redis = yield* Effect.serviceOption(RedisClientTag)
  const membership = yield* Effect.serviceOption(MembershipTag)
  const leases = yield* Effect.serviceOption(ShardLeasesTag)
  const configured = yield* Effect.serviceOption(ConfiguredStore)
  const storeBreaker = yield* Effect.serviceOption(StoreBreaker)
  const natsBreaker = yield* Effect.serviceOption(NatsBreaker)
  const redisBreaker = yield* Effect.serviceOption(RedisBreaker)

  const base = Effect.map(
    Effect.all(
      [
        check(`store:${store.name}`, storeTitle(store.name), store.ping, storeBreaker),
        ...(Option.isSome(nats) ? [check("nats", "NATS", Effect.tryPromise(() => nats.value.nc.rtt()), natsBreaker)] : [])
      ],
      { concurrency: "unbounded" }
    ),
    (checks): Readiness => ({ ok: checks.every(([, v]) => v === "ok"), checks: Object.fromEntries(checks) })
  )
  const withRedis = (r: Readiness): Effect.Effect<Readiness> =>
    Option.match(redis, {
      onNone: () => Effect.succeed(r),
      onSome: (client) =>
        Effect.map(
          Effect.all([Effect.either(client.ping.pipe(Effect.timeout(REDIS_PROBE_TIMEOUT))), presence.status]),
          ([ping, seen]): Readiness => ({
            ...r,
            checks: {
              ...r.checks,
              redis:
                ping._tag === "Left"
                  ? `degraded: ${redisReason(ping.left, redisBreaker)}; rate limits per node, presence from this node only`
                  : seen === "ok"
                    ? "ok"
                    : "degraded: Redis answers again; presence resyncing"
            }
          })
        )
    })
  const withCluster = (r: Readiness): Effect.Effect<Readiness> =>
    Option.isSome(membership) && Option.isSome(leases)
      ? Effect.map(membership.value.live, (live) => ({
          ...r,
          details: {
            cluster: {
              node: config.nodeId,
              live,
              shards: config.shards,
              shardsHeld: leases.value.heldCount(),
              handovers: leases.value.handovers().slice(-20)
            }
          }
        }))
      : Effect.succeed(r)
  // Dual mode: the second store is its own check (src/http/dualReadiness.ts).
  const withDual = (r: Readiness): Effect.Effect<Readiness> =>
    Option.isSome(configured) ? withDualCheck(r, configured.value, config.dualRead, copyBreakerOf(configured.value)) : Effect.succeed(r)
  return base.pipe(Effect.flatMap(withRedis), Effect.flatMap(withDual), Effect.flatMap(withCluster))
})
