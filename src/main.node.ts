/**
 * Node entry point: `npm start`. Reads the configuration from the environment, resolves
 * secrets (generating dev ones into the data dir in embedded mode), and runs one node
 * until SIGINT/SIGTERM, when NodeRuntime interrupts it and the shutdown finalizers run.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer } from "effect"
import { makeNodePlatform } from "./platform/node.ts"
import { nodeServices } from "./platform/nodeServices.ts"
import { PlatformTag } from "./platform/types.ts"
import * as Node from "./server.ts"
import { logFailure } from "./startup/StartupError.ts"

const program = Node.launch.pipe(Effect.provide(Layer.merge(nodeServices, Layer.succeed(PlatformTag, makeNodePlatform()))))

// A failure is reported once, as one line (src/startup/StartupError.ts); runMain only sets the exit code.
NodeRuntime.runMain(program.pipe(Effect.tapErrorCause(logFailure)), {
  disablePrettyLogger: true,
  disableErrorReporting: true
})
