/** Deno entry point of the operator CLI: `deno task chat <command>`. */
import { Effect } from "effect"
import { runMain } from "../platform/denoRuntime.ts"
import { nodeServices } from "../platform/nodeServices.ts"
import { makeNodeHttp2Client } from "../platform/http2.node.ts"
import { runCommand, UsageError } from "./commands.ts"

const program = runCommand(Deno.args, { makeHttp2Client: makeNodeHttp2Client }).pipe(
  Effect.catchIf(
    (e): e is UsageError => e instanceof UsageError,
    (e) =>
      Effect.sync(() => {
        console.error(e.message)
        Deno.exitCode = 2
      })
  ),
  Effect.provide(nodeServices)
)

await runMain(program, "chat command failed")
