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
import { nodeServices } from "./platform/nodeServices.ts"

const program = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  const secrets = yield* Secrets
  yield* startNode(config, secrets, makeNodePlatform())
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(program.pipe(Effect.provide(nodeServices)), { disablePrettyLogger: true })
