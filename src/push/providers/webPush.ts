/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291). The
 * `web-push` library builds the request (the encryption and the VAPID JWT); the request is sent
 * with fetch rather than the library's https.request, so an http:// endpoint (a local test
 * server, staging) works and no node:https is needed on this path.
 *
 * The device token registered for `webpush` is the browser's PushSubscription as JSON:
 * `{"endpoint": "...", "keys": {"p256dh": "...", "auth": "..."}}`.
 */
import webpush from "web-push"
import { alertText, byStatus, collapseKeyOf, dataOf, type Notification, type PushProvider, type SendOutcome } from "../Provider.ts"

export interface VapidKeys {
  /** URL-safe base64, uncompressed P-256 point: what the web app passes to pushManager.subscribe. */
  readonly publicKey: string
  readonly privateKey: string
}

export interface WebPushOptions {
  readonly vapid: VapidKeys
  /** `mailto:` or `https:` contact for the push service operator. */
  readonly subject: string
  readonly ttlSeconds: number
  readonly fetch?: typeof fetch
}

interface Subscription {
  readonly endpoint: string
  readonly keys: { readonly p256dh: string; readonly auth: string }
}

const parseSubscription = (token: string): Subscription | undefined => {
  try {
    const s = JSON.parse(token) as Partial<Subscription> | null
    if (
      s !== null &&
      typeof s === "object" &&
      typeof s.endpoint === "string" &&
      /^https?:\/\//.test(s.endpoint) &&
      typeof s.keys?.p256dh === "string" &&
      typeof s.keys?.auth === "string"
    ) {
      return { endpoint: s.endpoint, keys: { p256dh: s.keys.p256dh, auth: s.keys.auth } }
    }
  } catch {
    // not JSON: falls through
  }
  return undefined
}

export const generateVapidKeys = (): VapidKeys => webpush.generateVAPIDKeys()

/** What the service worker receives (decrypted): the data fields plus the text to show. */
export const webPushPayload = (n: Notification) => JSON.stringify({ ...dataOf(n), ...alertText(n) })

export const makeWebPush = (options: WebPushOptions): PushProvider => {
  const doFetch = options.fetch ?? fetch
  return {
    platform: "webpush",
    send: async (token, n): Promise<SendOutcome> => {
      const subscription = parseSubscription(token)
      // A token that is not a subscription can never be delivered to.
      if (subscription === undefined) return { _tag: "Dead", reason: "not a push subscription" }
      let request: { endpoint: string; method: string; headers: Record<string, string | number>; body: Buffer | null }
      try {
        request = webpush.generateRequestDetails(subscription, webPushPayload(n), {
          vapidDetails: { subject: options.subject, publicKey: options.vapid.publicKey, privateKey: options.vapid.privateKey },
          TTL: options.ttlSeconds,
          topic: collapseKeyOf(n.room),
          urgency: "high",
          contentEncoding: "aes128gcm"
        }) as typeof request
      } catch (e) {
        // Bad subscription keys (wrong length, not base64url): never deliverable either.
        return { _tag: "Dead", reason: `subscription rejected: ${(e as Error).message}` }
      }
      try {
        // fetch sets Content-Length from the body itself and refuses one given by the caller.
        const headers = Object.fromEntries(
          Object.entries(request.headers).flatMap(([k, v]) => (k.toLowerCase() === "content-length" ? [] : [[k, String(v)]]))
        )
        const res = await doFetch(request.endpoint, {
          method: request.method,
          headers,
          ...(request.body === null ? {} : { body: new Uint8Array(request.body) })
        })
        await res.body?.cancel()
        if (res.status === 404 || res.status === 410) return { _tag: "Dead", reason: `status ${res.status}` }
        return byStatus(res.status, res.headers.get("retry-after"), `status ${res.status}`)
      } catch (e) {
        // Name and code only: a message may quote the endpoint URL, which is the device's token.
        return { _tag: "Retry", reason: `network: ${(e as Error).name} ${String(((e as Error).cause as { code?: unknown })?.code ?? "")}` }
      }
    }
  }
}
