/**
 * The operator CLI (`npm run chat -- <command>`, `deno task chat <command>`). Commands are
 * runtime-free Effects; src/cli/main.node.ts and main.deno.ts only provide the platform.
 */
import { Console, Effect, Option, Redacted } from "effect"
import type { FileSystem, Path } from "@effect/platform"
import { signToken } from "../auth/Auth.ts"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import * as KeyRing from "../crypto/KeyRing.ts"
import { makeConfiguredStore } from "../../storage/select.ts"
import { rotateMasterKey } from "../../storage/rotate.ts"

export const usage = `usage: chat <command>

commands:
  token <user> [--ttl <span>]   print an HS256 token for <user> (span like 24h, 7d; default 24h)
  rotate-master-key             re-wrap every room key under CHAT_MASTER_KEY; the previous
                                key(s) go in CHAT_MASTER_KEYS_OLD for the run
  help                          this text`

export class UsageError {
  readonly _tag = "UsageError"
  constructor(readonly message: string) {}
}

const token = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const user = args[0]
    if (user === undefined || user.length === 0 || user.length > 128) {
      return yield* Effect.fail(new UsageError("token needs a user name of 1..128 characters"))
    }
    const ttlAt = args.indexOf("--ttl")
    const ttl = ttlAt >= 0 ? args[ttlAt + 1] : undefined
    const config = yield* ChatConfigTag
    const secrets = yield* Secrets
    if (Option.isNone(secrets.jwtSecret)) {
      return yield* Effect.fail(
        new UsageError("no HS256 secret: tokens come from your identity provider when CHAT_JWKS_URL or CHAT_JWT_PUBLIC_KEY is set")
      )
    }
    const jwt = yield* signToken(secrets.jwtSecret.value, user, {
      ...(ttl !== undefined ? { expiresIn: ttl } : {}),
      ...(Option.isSome(config.jwtIssuer) ? { issuer: config.jwtIssuer.value } : {}),
      ...(Option.isSome(config.jwtAudience) ? { audience: config.jwtAudience.value } : {})
    })
    // The token is the command's output, printed for the operator who asked for it; it is never logged.
    yield* Console.log(jwt)
  })

const rotate = Effect.gen(function* () {
  const config = yield* ChatConfigTag
  const secrets = yield* Secrets
  const ring = yield* KeyRing.make({
    current: Redacted.value(secrets.masterKey),
    old: secrets.oldMasterKeys.map(Redacted.value)
  })
  const store = yield* makeConfiguredStore(config)
  const report = yield* rotateMasterKey(store, ring)
  yield* Console.log(
    `rotated: ${report.rewrapped} room keys re-wrapped, ${report.alreadyCurrent} already under the current master key (${ring.currentMasterKeyId})`
  )
})

export const runCommand = (
  argv: ReadonlyArray<string>
): Effect.Effect<void, unknown, ChatConfigTag | Secrets | FileSystem.FileSystem | Path.Path> => {
  const [command, ...args] = argv
  switch (command) {
    case "token":
      return token(args)
    case "rotate-master-key":
      return Effect.scoped(rotate)
    case undefined:
    case "help":
    case "--help":
      return Console.log(usage)
    default:
      return Effect.fail(new UsageError(`unknown command: ${command}\n\n${usage}`))
  }
}

