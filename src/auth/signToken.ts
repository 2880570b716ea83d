/**
 * Issues HS256 tokens: the CLI's `token <user>` command and tests. Production deployments
 * with an identity provider never call this.
 */
import { Effect, Redacted } from "effect"
import { SignJWT } from "jose"
import { utf8 } from "../../core/util/base64.ts"

export interface SignOptions {
  /** Seconds from now (negative: already expired), or a jose span such as "24h". Default 24 h. */
  readonly expiresIn?: number | string
  readonly issuer?: string
  readonly audience?: string
}

const DEFAULT_EXPIRES_IN = "24h"

export const signToken = (
  secret: Redacted.Redacted<string> | string,
  user: string,
  options: SignOptions = {}
): Effect.Effect<string> =>
  Effect.promise(() => {
    const key = utf8.encode(Redacted.isRedacted(secret) ? Redacted.value(secret) : secret)
    const expiresIn = options.expiresIn ?? DEFAULT_EXPIRES_IN
    let jwt = new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(user)
      .setIssuedAt()
      // jose reads a number as an absolute time, so seconds-from-now become a relative span.
      .setExpirationTime(typeof expiresIn === "number" ? `${expiresIn}s` : expiresIn)
    if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer)
    if (options.audience !== undefined) jwt = jwt.setAudience(options.audience)
    return jwt.sign(key)
  })
