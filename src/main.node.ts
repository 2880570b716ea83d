/**
 * Node entry point: `npm start`. Reads the configuration from the environment, resolves
 * secrets (generating dev ones into the data dir in embedded mode), and runs one node
 * until SIGINT/SIGTERM, when NodeRuntime interrupts it and the shutdown finalizers run.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { ChatConfigTag } from "./config/ChatConfig.ts"
import { Secrets } from "./config/secrets.ts"
import { makeNodePlatform } from "./platform/node.ts"
import { startNode } from "./server.ts"
import { prepareDataDir } from "./startup/dataDir.ts"
import { logFailure } from "./startup/StartupError.ts"
import { nodeServices } from "./platform/nodeServices.ts"

const program = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  const secrets = yield* Secrets
  // Before the store opens: the data dir exists (0700) and is this process's alone.
  yield* prepareDataDir(config)
  yield* startNode(config, secrets, makeNodePlatform())
  return yield* Effect.never
}).pipe(Effect.scoped)

// A failure is reported once, as one line (src/startup/StartupError.ts); runMain only sets the exit code.
NodeRuntime.runMain(program.pipe(Effect.provide(nodeServices), Effect.tapErrorCause(logFailure)), {
  disablePrettyLogger: true,
  disableErrorReporting: true
})
