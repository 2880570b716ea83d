/**
 * Why a token was refused, in words safe to show the client and to log: built from jose's
 * stable error codes only, never from its messages or payloads (which can quote claims).
 */
import { errors } from "jose"

export const KEYS_UNAVAILABLE = "token signing keys unavailable"

export const rejectionReason = (e: unknown): string => {
  if (!(e instanceof errors.JOSEError)) return KEYS_UNAVAILABLE // e.g. the JWKS fetch failed
  switch (e.code) {
    case "ERR_JWT_EXPIRED":
      return "token expired"
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "invalid token signature"
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "token algorithm not allowed"
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (e as errors.JWTClaimValidationFailed).claim
      return ["iss", "aud", "nbf", "iat", "exp", "sub"].includes(claim) ? `token claim ${claim} not accepted` : "token claims not accepted"
    }
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "no signing key matches the token"
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
      return KEYS_UNAVAILABLE
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return "malformed token"
    default:
      return "invalid token"
  }
}
