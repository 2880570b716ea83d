/**
 * Authentication: turns a bearer token into the user it names (the JWT `sub`).
 * Failures are `Unauthorized` with a reason that never contains the token.
 */
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import type { Unauthorized } from "../../core/errors.ts"
import type { UserId } from "../../core/model.ts"
import { AuthSetupError, makeVerifier, type VerifierOptions } from "./verifier.ts"

export { AuthSetupError, type VerifierOptions } from "./verifier.ts"
export { signToken, type SignOptions } from "./signToken.ts"

export interface AuthService {
  readonly verify: (token: string) => Effect.Effect<UserId, Unauthorized>
  /** `verify` of a token verified and cached before, without an Effect; undefined: call `verify`. */
  readonly verifyNow?: (token: string) => UserId | undefined
}

export const make = (options: VerifierOptions): Effect.Effect<AuthService, AuthSetupError> =>
  Effect.map(makeVerifier(options), (v) => ({ verify: v.verify, verifyNow: v.peek }))

export class Auth extends Context.Tag("chat/Auth")<Auth, AuthService>() {
  /** Keys from ChatConfig (JWKS/PEM, iss, aud) and the resolved HS256 secret. */
  static readonly layer: Layer.Layer<Auth, AuthSetupError, ChatConfigTag | Secrets> = Layer.effect(
    Auth,
    Effect.gen(function* () {
      const config = yield* ChatConfigTag
      const secrets = yield* Secrets
      return yield* make({
        secret: Option.getOrUndefined(secrets.jwtSecret),
        jwksUrl: Option.getOrUndefined(config.jwksUrl),
        publicKeyPem: Option.getOrUndefined(config.jwtPublicKey),
        algorithms: config.jwtAlgorithms,
        issuer: Option.getOrUndefined(config.jwtIssuer),
        audience: Option.getOrUndefined(config.jwtAudience)
      })
    })
  )

  /** HS256 with `secret`, no iss/aud: pair with `signToken(secret, user)`. */
  static readonly layerTest = (secret: string): Layer.Layer<Auth> =>
    Layer.effect(Auth, Effect.orDie(make({ secret: Redacted.make(secret) })))
}
