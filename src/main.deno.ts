/**
 * Deno entry point: `deno task start`. The same program as src/main.node.ts on the Deno
 * adapter; Node's file system through Deno's node: compatibility (NodeContext works there),
 * so both runtimes share nodeServices.
 */
import { Effect, Layer } from "effect"
import { makeDenoPlatform } from "./platform/deno.ts"
import { runMain } from "./platform/denoRuntime.ts"
import { nodeServices } from "./platform/nodeServices.ts"
import { PlatformTag } from "./platform/types.ts"
import * as Node from "./server.ts"

const program = Node.launch.pipe(
  Effect.provide(Layer.merge(nodeServices, Layer.succeed(PlatformTag, makeDenoPlatform())))
)

await runMain(program)
