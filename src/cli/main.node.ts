/** Node entry point of the operator CLI: `npm run chat -- <command>`. */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { nodeServices } from "../platform/nodeServices.ts"
import { makeNodeHttp2Client } from "../platform/http2.node.ts"
import { runCommand, UsageError } from "./commands.ts"
import { logFailure } from "../startup/StartupError.ts"

const program = runCommand(process.argv.slice(2), { makeHttp2Client: makeNodeHttp2Client }).pipe(
  Effect.catchIf(
    (e): e is UsageError => e instanceof UsageError,
    (e) =>
      Effect.sync(() => {
        console.error(e.message)
        process.exitCode = 2
      })
  ),
  Effect.provide(nodeServices),
  Effect.tapErrorCause((cause) => logFailure(cause, "chat command failed"))
)

NodeRuntime.runMain(program, { disablePrettyLogger: true, disableErrorReporting: true })
