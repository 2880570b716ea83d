/**
 * Deno entry point: `deno task start`. The same program as src/main.node.ts on the Deno
 * adapter; Node's file system through Deno's node: compatibility (NodeContext works there),
 * so both runtimes share nodeServices.
 */
import { Effect } from "effect"
import { ChatConfigTag } from "./config/ChatConfig.ts"
import { Secrets } from "./config/secrets.ts"
import { makeDenoPlatform } from "./platform/deno.ts"
import { runMain } from "./platform/denoRuntime.ts"
import { nodeServices } from "./platform/nodeServices.ts"
import { startNode } from "./server.ts"
import { prepareDataDir } from "./startup/dataDir.ts"

const program = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  const secrets = yield* Secrets
  // Before the store opens: the data dir exists (0700) and is this process's alone.
  yield* prepareDataDir(config)
  yield* startNode(config, secrets, makeDenoPlatform())
  return yield* Effect.never
}).pipe(Effect.scoped)

await runMain(program.pipe(Effect.provide(nodeServices)))
