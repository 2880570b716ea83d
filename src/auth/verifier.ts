/**
 * Builds the token check from key material: HS256 with a shared secret, and/or asymmetric
 * algorithms against a JWKS URL or a PEM public key. The key is chosen by the token's `alg`
 * only among the algorithms configured, so an HS256 token can never be checked against a
 * public key used as an HMAC secret (the classic algorithm-confusion attack).
 */
import { Data, Effect, Option, Redacted, Schema } from "effect"
import { createRemoteJWKSet, importSPKI, jwtVerify, type JWTVerifyGetKey } from "jose"
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm } from "../config/ChatConfig.ts"
import { Unauthorized } from "../../core/errors.ts"
import { isWellFormed, SYSTEM_SENDER, UserId } from "../../core/model.ts"
import { utf8 } from "../../core/util/base64.ts"
import { KEYS_UNAVAILABLE, rejectionReason } from "./rejection.ts"
import { type CachedVerifier, type TokenCacheOptions, type Verified, withTokenCache } from "./tokenCache.ts"

export interface VerifierOptions {
  readonly secret?: Redacted.Redacted<string>
  readonly jwksUrl?: string
  /** PEM SPKI; literal `\n` escapes (as env files often carry them) are accepted. */
  readonly publicKeyPem?: string
  /** Algorithms accepted with `publicKeyPem`; default RS256. */
  readonly algorithms?: ReadonlyArray<AsymmetricAlgorithm>
  readonly issuer?: string
  readonly audience?: string
  /** Verified tokens kept until their exp (./tokenCache.ts); defaults there. */
  readonly tokenCache?: TokenCacheOptions
}

/** The key material is unusable; raised at startup, before any token is seen. */
export class AuthSetupError extends Data.TaggedError("AuthSetupError")<{ readonly message: string }> {}

// Bounds the work an unauthenticated client can cause; real tokens are well under 2 KiB.
const MAX_TOKEN_CHARS = 8192
// Tolerated clock skew between the token issuer and this node, in seconds.
const CLOCK_TOLERANCE_S = 5

const decodeSub = Schema.decodeUnknownOption(UserId)

export const makeVerifier = (
  options: VerifierOptions
): Effect.Effect<CachedVerifier, AuthSetupError> =>
  Effect.gen(function* () {
    const hmacKey = options.secret === undefined ? undefined : utf8.encode(Redacted.value(options.secret))
    const asymmetric = yield* asymmetricKeys(options)
    if (hmacKey === undefined && asymmetric === undefined) {
      return yield* new AuthSetupError({ message: "no JWT key configured: set CHAT_JWT_SECRET, CHAT_JWKS_URL or CHAT_JWT_PUBLIC_KEY" })
    }
    const algorithms = [...(hmacKey ? ["HS256"] : []), ...(asymmetric?.algorithms ?? [])]
    const getKey: JWTVerifyGetKey = (header, token) =>
      header.alg === "HS256" && hmacKey !== undefined ? hmacKey : asymmetric!.getKey(header, token)

    // A bad token is the client's problem (debug); unreachable signing keys are ours (warning).
    const reject = (reason: string) =>
      (reason === KEYS_UNAVAILABLE ? Effect.logWarning("token rejected") : Effect.logDebug("token rejected")).pipe(
        Effect.annotateLogs({ reason }),
        Effect.zipRight(Effect.fail(new Unauthorized({ message: reason })))
      )

    const verify = (token: string): Effect.Effect<Verified, Unauthorized> => {
      if (token === "") return reject("missing token")
      if (token.length > MAX_TOKEN_CHARS) return reject("token too large")
      return Effect.tryPromise({
        try: () =>
          jwtVerify(token, getKey, {
            algorithms,
            issuer: options.issuer,
            audience: options.audience,
            // A token without exp would be valid forever.
            requiredClaims: ["exp"],
            clockTolerance: CLOCK_TOLERANCE_S
          }),
        catch: rejectionReason
      }).pipe(
        Effect.flatMap(({ payload }) =>
          Option.match(decodeSub(payload.sub), {
            onNone: () =>
              Effect.fail(
                // UserId refuses NUL (it cannot be stored); say so rather than blame the length.
                typeof payload.sub === "string" && payload.sub.includes("\u0000")
                  ? "token sub must not contain NUL (U+0000) characters"
                  : typeof payload.sub === "string" && !isWellFormed(payload.sub)
                    ? "token sub must be well-formed Unicode (no unpaired surrogate)"
                    : "token sub must be a string of 1..128 characters"
              ),
            // jose has checked exp: present (a required claim) and a number.
            onSome: (user) =>
              // The system's messages are sent by the server API; no token may speak as it.
              user === SYSTEM_SENDER
                ? Effect.fail(`token sub "${SYSTEM_SENDER}" is reserved`)
                : Effect.succeed({ user, exp: payload.exp! })
          })
        ),
        Effect.catchAll(reject)
      )
    }
    return withTokenCache(verify, options.tokenCache)
  })

const asymmetricKeys = (options: VerifierOptions) =>
  Effect.gen(function* () {
    if (options.jwksUrl !== undefined) {
      // jose caches the set, refetches on an unknown kid (at most every 30 s) and times out at 5 s.
      const jwks = createRemoteJWKSet(new URL(options.jwksUrl))
      return { algorithms: [...ASYMMETRIC_ALGORITHMS], getKey: jwks as JWTVerifyGetKey }
    }
    if (options.publicKeyPem !== undefined) {
      const pem = options.publicKeyPem.replace(/\\n/g, "\n")
      const algorithms = options.algorithms ?? ["RS256"]
      // Imported once per algorithm at startup: a key that does not fit an algorithm fails here.
      const keys = new Map(
        yield* Effect.forEach(algorithms, (alg) =>
          Effect.tryPromise({
            try: () => importSPKI(pem, alg),
            catch: () => new AuthSetupError({ message: `CHAT_JWT_PUBLIC_KEY is not a valid ${alg} public key` })
          }).pipe(Effect.map((key) => [alg as string, key] as const))
        )
      )
      return { algorithms: [...algorithms], getKey: ((header) => keys.get(header.alg!)!) as JWTVerifyGetKey }
    }
    return undefined
  })
