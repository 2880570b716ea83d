/**
 * /readyz with CHAT_STORE=dual: the store's own ping is PostgreSQL's (every write commits
 * there first), so ScyllaDB is checked and reported on its own as `store:scylla`. It makes
 * the node unready only when reads come from it (CHAT_DUAL_READ=scylla); with reads from
 * PostgreSQL the node keeps serving and copies wait in the outbox until ScyllaDB is back.
 */
import { Effect } from "effect"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { DualStore } from "../../storage/dual/DualStore.ts"
import type { Readiness } from "./readiness.ts"
import { type Breaker, describeCause } from "../resilience/Breaker.ts"

const isDual = (store: ChatStore): store is DualStore => store.name === "dual" && "pingSecondary" in store

export const withDualCheck = (
  r: Readiness,
  store: ChatStore,
  reads: "postgres" | "scylla",
  breaker?: Breaker
): Effect.Effect<Readiness> =>
  isDual(store)
    ? Effect.map(Effect.either(store.pingSecondary.pipe(Effect.timeout("2 seconds"))), (ping): Readiness => {
        if (ping._tag === "Right" && (breaker === undefined || breaker.state() === "closed")) {
          return { ...r, checks: { ...r.checks, "store:scylla": "ok" } }
        }
        // In words: the open circuit and its cause, or the ping's own failure.
        const reason =
          breaker !== undefined && breaker.state() !== "closed"
            ? `failing: ScyllaDB circuit ${breaker.state()} (${breaker.cause() ?? "failing"})`
            : ping._tag === "Left" && (ping.left as { _tag?: string })._tag === "TimeoutException"
              ? "failing: ScyllaDB did not answer within 2 s"
              : `failing: ScyllaDB: ${ping._tag === "Left" ? describeCause(ping.left) : "recovering"}`
        return reads === "scylla"
          ? { ...r, ok: false, checks: { ...r.checks, "store:scylla": reason } }
          : { ...r, checks: { ...r.checks, "store:scylla": `degraded: ${reason}; writes wait in the outbox` } }
      })
    : Effect.succeed(r)
