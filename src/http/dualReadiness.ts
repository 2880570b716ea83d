/**
 * /readyz with CHAT_STORE=dual: the store's own ping is PostgreSQL's (every write commits
 * there first), so ScyllaDB is checked and reported on its own as `store:scylla`. It makes
 * the node unready only when reads come from it (CHAT_DUAL_READ=scylla); with reads from
 * PostgreSQL the node keeps serving and copies wait in the outbox until ScyllaDB is back.
 */
import { Effect } from "effect"
import type { ChatStore } from "../../storage/ChatStore.ts"
import type { DualStore } from "../../storage/dual/DualStore.ts"
import type { Readiness } from "./app.ts"

const isDual = (store: ChatStore): store is DualStore => store.name === "dual" && "pingSecondary" in store

export const withDualCheck = (r: Readiness, store: ChatStore, reads: "postgres" | "scylla"): Effect.Effect<Readiness> =>
  isDual(store)
    ? Effect.map(Effect.either(store.pingSecondary.pipe(Effect.timeout("2 seconds"))), (ping): Readiness => {
        if (ping._tag === "Right") return { ...r, checks: { ...r.checks, "store:scylla": "ok" } }
        const reason = `failing: ${String((ping.left as { _tag?: string })._tag ?? ping.left)}`
        return reads === "scylla"
          ? { ...r, ok: false, checks: { ...r.checks, "store:scylla": reason } }
          : { ...r, checks: { ...r.checks, "store:scylla": `degraded: ${reason}; writes wait in the outbox` } }
      })
    : Effect.succeed(r)
