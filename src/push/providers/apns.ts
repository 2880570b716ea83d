/**
 * Apple Push Notification service over HTTP/2 with token-based authentication: an ES256 JWT
 * (header `kid` = the key id, claims `iss` = the team id, `iat`) signed with the .p8 key, sent
 * as `authorization: bearer`. Apple refuses a provider token older than an hour and one
 * refreshed more often than every 20 minutes, so it is cached for 40.
 */
import { importPKCS8, SignJWT } from "jose"
import type { Http2Client } from "../Http2.ts"
import { alertText, byStatus, collapseKeyOf, dataOf, type PushProvider, type SendOutcome } from "../Provider.ts"

export interface ApnsOptions {
  /** The .p8 key's PEM text (PKCS#8, P-256). */
  readonly keyPem: string
  readonly keyId: string
  readonly teamId: string
  /** The app's bundle id (apns-topic). */
  readonly topic: string
  /** `https://api.push.apple.com`, `https://api.sandbox.push.apple.com`, or a test server. */
  readonly url: string
  readonly ttlSeconds: number
  readonly http2: Http2Client
  readonly now?: () => number
}

const TOKEN_LIFETIME_MS = 40 * 60_000
/** Reasons (in a 400/410 body) that mean the token is gone for good. */
const DEAD_REASONS = new Set(["BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"])

export const makeApns = (options: ApnsOptions): PushProvider => {
  const now = options.now ?? Date.now
  const key = importPKCS8(options.keyPem, "ES256")
  let cached: { jwt: string; at: number } | undefined
  const providerToken = async (fresh: boolean) => {
    if (!fresh && cached !== undefined && now() - cached.at < TOKEN_LIFETIME_MS) return cached.jwt
    const at = now()
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: options.keyId })
      .setIssuer(options.teamId)
      .setIssuedAt(Math.floor(at / 1000))
      .sign(await key)
    cached = { jwt, at }
    return jwt
  }
  const origin = new URL(options.url).origin

  const attempt = async (token: string, body: string, collapseId: string, freshJwt: boolean) => {
    const res = await options.http2.post(
      origin,
      `/3/device/${encodeURIComponent(token)}`,
      {
        authorization: `bearer ${await providerToken(freshJwt)}`,
        "apns-topic": options.topic,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-collapse-id": collapseId,
        "apns-expiration": String(Math.floor(now() / 1000) + options.ttlSeconds),
        "content-type": "application/json"
      },
      body
    )
    let reason = ""
    try {
      reason = String((JSON.parse(res.body) as { reason?: unknown }).reason ?? "")
    } catch {
      // no JSON body (a success has none)
    }
    return { status: res.status, reason, retryAfter: res.headers["retry-after"] }
  }

  return {
    platform: "apns",
    send: async (token, n): Promise<SendOutcome> => {
      const { title, body } = alertText(n)
      const payload = JSON.stringify({
        aps: { alert: { title, body }, "thread-id": n.room, "mutable-content": 1, sound: "default" },
        ...dataOf(n)
      })
      try {
        let r = await attempt(token, payload, collapseKeyOf(n.room), false)
        // Our cached provider token expired early (clock skew, key rotation): once, with a new one.
        if (r.status === 403 && r.reason === "ExpiredProviderToken") r = await attempt(token, payload, collapseKeyOf(n.room), true)
        if (r.status === 410 || DEAD_REASONS.has(r.reason)) return { _tag: "Dead", reason: r.reason || `status ${r.status}` }
        return byStatus(r.status, r.retryAfter, r.reason || `status ${r.status}`)
      } catch (e) {
        return { _tag: "Retry", reason: `network: ${(e as Error).name}` }
      }
    }
  }
}
