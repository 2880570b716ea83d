/**
 * Times every store operation into chat_store_query_duration_seconds{operation,store}.
 * One decorator over the contract, so every store is measured the same way.
 */
import { Effect } from "effect"
import { timeStoreQuery } from "./metrics.ts"
import type { ChatStore } from "../../storage/ChatStore.ts"

export const withMetrics = (store: ChatStore): ChatStore => {
  const out: Record<string, unknown> = {}
  for (const [operation, member] of Object.entries(store)) {
    const time = timeStoreQuery(operation, store.name)
    if (typeof member === "function") {
      out[operation] = (...args: Array<unknown>) => time((member as (...a: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args))
    } else if (Effect.isEffect(member)) {
      out[operation] = time(member)
    } else {
      out[operation] = member
    }
  }
  return out as unknown as ChatStore
}
