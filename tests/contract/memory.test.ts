import { Effect } from "effect"
import { makeMemoryStore } from "../../storage/memory/MemoryStore.ts"
import { storeContract } from "./store.contract.ts"

storeContract(
  "memory",
  Effect.sync(() => ({ store: makeMemoryStore() }))
)
