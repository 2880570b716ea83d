/**
 * Firebase Cloud Messaging HTTP v1: `POST {url}/v1/projects/{project}/messages:send` with an
 * OAuth2 access token. The token comes from the service account's key by the JWT bearer grant
 * (RFC 7523): an RS256 assertion (iss = client_email, aud = token_uri, scope
 * firebase.messaging) posted to token_uri; it is cached until a minute before it expires.
 * Written with jose and fetch instead of google-auth-library: this is the whole of what we
 * need from it, and it runs unchanged on Deno.
 */
import { importPKCS8, SignJWT } from "jose"
import { alertText, byStatus, collapseKeyOf, dataOf, type PushProvider, type SendOutcome } from "../Provider.ts"

export interface ServiceAccount {
  readonly project_id: string
  readonly client_email: string
  readonly private_key: string
  readonly private_key_id?: string
  readonly token_uri?: string
}

export interface FcmOptions {
  readonly account: ServiceAccount
  /** `https://fcm.googleapis.com` or a test server. */
  readonly url: string
  /** Overrides the key file's token_uri (tests, proxies). */
  readonly tokenUrl?: string
  readonly ttlSeconds: number
  readonly fetch?: typeof fetch
  readonly now?: () => number
}

export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
const DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"

export const parseServiceAccount = (text: string): ServiceAccount => {
  const a = JSON.parse(text) as Partial<ServiceAccount>
  for (const field of ["project_id", "client_email", "private_key"] as const) {
    if (typeof a[field] !== "string" || a[field] === "") throw new Error(`service account key has no ${field}`)
  }
  return a as ServiceAccount
}

class TokenError extends Error {}

export const makeFcm = (options: FcmOptions): PushProvider => {
  const doFetch = options.fetch ?? fetch
  const now = options.now ?? Date.now
  const tokenUrl = options.tokenUrl ?? options.account.token_uri ?? DEFAULT_TOKEN_URI
  const key = importPKCS8(options.account.private_key, "RS256")
  let cached: { token: string; until: number } | undefined

  const accessToken = async (fresh: boolean) => {
    if (!fresh && cached !== undefined && now() < cached.until) return cached.token
    const iat = Math.floor(now() / 1000)
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", ...(options.account.private_key_id ? { kid: options.account.private_key_id } : {}) })
      .setIssuer(options.account.client_email)
      .setAudience(tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(await key)
    const res = await doFetch(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString()
    })
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number }
    if (!res.ok || typeof body.access_token !== "string") throw new TokenError(`token endpoint answered ${res.status}`)
    cached = { token: body.access_token, until: now() + Math.max(0, (body.expires_in ?? 3600) - 60) * 1000 }
    return cached.token
  }

  const sendUrl = `${options.url.replace(/\/$/, "")}/v1/projects/${encodeURIComponent(options.account.project_id)}/messages:send`

  const post = async (message: unknown, fresh: boolean) =>
    doFetch(sendUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${await accessToken(fresh)}`, "content-type": "application/json" },
      body: JSON.stringify({ message })
    })

  return {
    platform: "fcm",
    send: async (token, n): Promise<SendOutcome> => {
      const collapse = collapseKeyOf(n.room)
      const message = {
        token,
        data: dataOf(n),
        notification: alertText(n),
        android: {
          collapse_key: collapse,
          priority: "HIGH",
          ttl: `${options.ttlSeconds}s`,
          // The same tag replaces the notification on the device: one per room.
          notification: { tag: collapse }
        },
        apns: { headers: { "apns-collapse-id": collapse } },
        webpush: { headers: { Topic: collapse } }
      }
      try {
        let res = await post(message, false)
        // The cached access token was revoked or expired early: once, with a new one.
        if (res.status === 401) res = await post(message, true)
        const text = await res.text()
        if (res.ok) return { _tag: "Sent" }
        let code = ""
        let status = ""
        try {
          const error = (JSON.parse(text) as { error?: { status?: string; details?: Array<{ errorCode?: string }> } }).error
          status = error?.status ?? ""
          code = error?.details?.find((d) => typeof d.errorCode === "string")?.errorCode ?? ""
        } catch {
          // not JSON
        }
        if (code === "UNREGISTERED" || res.status === 404) return { _tag: "Dead", reason: code || status || "status 404" }
        return byStatus(res.status, res.headers.get("retry-after"), code || status || `status ${res.status}`)
      } catch (e) {
        if (e instanceof TokenError) return { _tag: "Retry", reason: e.message }
        return { _tag: "Retry", reason: `network: ${(e as Error).name}` }
      }
    }
  }
}
