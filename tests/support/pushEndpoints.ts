/**
 * Local stand-ins for the three push services, speaking their real protocols, for the push
 * tests: a Web Push endpoint (HTTP/1.1) that decrypts every payload with the subscription's
 * private key and verifies the VAPID JWT; an APNs server (HTTP/2, h2c) that verifies the ES256
 * provider token and the apns-* headers; an FCM token endpoint and send endpoint that verify
 * the OAuth2 JWT grant and the v1 message. Each records what it accepted, and answers per
 * device token from a script (`plan`), so a test can make a token dead or busy.
 */
import { createECDH, randomBytes, type ECDH } from "node:crypto"
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http"
import { createServer as createHttp2Server, type Http2Server } from "node:http2"
import type { AddressInfo } from "node:net"
import ece from "http_ece"
import { decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair, importSPKI, importJWK, jwtVerify } from "jose"

/** What a device's next requests get: consumed in order; once used up, success. */
export type Answer = "ok" | "gone" | "busy" | "broken"

const b64url = (b: Buffer) => b.toString("base64url")

const readBody = (req: IncomingMessage | import("node:http2").Http2ServerRequest) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

const listen = (server: Server | Http2Server) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))

/** Resolves once `predicate` holds for the list, checked at every change (no polling). */
const waitable = <A>() => {
  const items: Array<A> = []
  let waiters: Array<{ check: () => boolean; resolve: () => void }> = []
  const changed = () => {
    waiters = waiters.filter((w) => {
      if (!w.check()) return true
      w.resolve()
      return false
    })
  }
  return {
    items,
    push: (a: A) => {
      items.push(a)
      changed()
    },
    until: (predicate: (items: ReadonlyArray<A>) => boolean, timeoutMs = 20_000) =>
      new Promise<ReadonlyArray<A>>((resolve, reject) => {
        if (predicate(items)) return resolve(items)
        const timer = setTimeout(() => reject(new Error(`timed out; received ${JSON.stringify(items).slice(0, 600)}`)), timeoutMs)
        waiters.push({
          check: () => predicate(items),
          resolve: () => {
            clearTimeout(timer)
            resolve(items)
          }
        })
      })
  }
}

const scripted = () => {
  const plans = new Map<string, Array<Answer>>()
  return {
    plan: (token: string, answers: ReadonlyArray<Answer>) => plans.set(token, [...answers]),
    next: (token: string): Answer => plans.get(token)?.shift() ?? "ok"
  }
}

// ---- Web Push -------------------------------------------------------------------------

export interface WebPushReceived {
  readonly device: string
  readonly payload: Record<string, string>
  readonly topic: string | undefined
  readonly ttl: string | undefined
  readonly vapid: { readonly sub: unknown; readonly aud: unknown; readonly exp: unknown }
}

export interface WebPushEndpoint {
  readonly received: ReturnType<typeof waitable<WebPushReceived>>
  readonly plan: (device: string, answers: ReadonlyArray<Answer>) => void
  /** A browser's subscription for `device` (JSON, as the app registers it), with its keys kept here. */
  readonly subscription: (device: string) => string
  /** Every request, accepted or not (dead and busy answers included). */
  readonly attempts: Array<string>
  readonly close: () => Promise<void>
}

export const startWebPushEndpoint = async (
  vapidPublicKey: () => string,
  /** Awaited before a request is answered (a test holds deliveries to kill a worker mid-way). */
  hold?: (device: string) => Promise<void>
): Promise<WebPushEndpoint> => {
  const keys = new Map<string, { ecdh: ECDH; auth: string }>()
  const received = waitable<WebPushReceived>()
  const script = scripted()
  const attempts: Array<string> = []
  const server = createHttpServer(async (req, res) => {
    const device = decodeURIComponent((req.url ?? "").replace(/^\/push\//, ""))
    const body = await readBody(req)
    attempts.push(device)
    try {
      const k = keys.get(device)
      if (k === undefined) throw new Error(`unknown device ${device}`)
      // VAPID (RFC 8292): Authorization: vapid t=<JWT>, k=<public key>; the JWT is ES256 by k.
      const auth = String(req.headers.authorization ?? "")
      const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(auth)
      if (m === null) throw new Error(`bad Authorization: ${auth.slice(0, 20)}`)
      if (m[2] !== vapidPublicKey()) throw new Error("VAPID key is not the server's")
      const point = Buffer.from(m[2]!, "base64url")
      const jwk = { kty: "EC", crv: "P-256", x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33, 65)) }
      if (decodeProtectedHeader(m[1]!).alg !== "ES256") throw new Error("VAPID JWT is not ES256")
      const { payload: claims } = await jwtVerify(m[1]!, await importJWK(jwk, "ES256"), {
        audience: `http://127.0.0.1:${port}`
      })
      if (req.headers["content-encoding"] !== "aes128gcm") throw new Error("not aes128gcm")
      const plain = ece.decrypt(body, { version: "aes128gcm", privateKey: k.ecdh, authSecret: k.auth })
      if (hold !== undefined) await hold(device)
      // The sender died while we held the request: it never learns the answer, nothing was delivered.
      if (req.socket.destroyed) return
      const answer = script.next(device)
      if (answer === "gone") return void res.writeHead(410).end()
      if (answer === "busy") return void res.writeHead(429, { "retry-after": "0" }).end()
      if (answer === "broken") return void res.writeHead(503).end()
      received.push({
        device,
        payload: JSON.parse(plain.toString("utf8")) as Record<string, string>,
        topic: req.headers.topic as string | undefined,
        ttl: req.headers.ttl as string | undefined,
        vapid: { sub: claims.sub, aud: claims.aud, exp: claims.exp }
      })
      res.writeHead(201).end()
    } catch (e) {
      res.writeHead(400, { "content-type": "text/plain" }).end(String((e as Error).message))
    }
  })
  const port = await listen(server)
  return {
    received,
    attempts,
    plan: script.plan,
    subscription: (device) => {
      const ecdh = createECDH("prime256v1")
      ecdh.generateKeys()
      const auth = b64url(randomBytes(16))
      keys.set(device, { ecdh, auth })
      return JSON.stringify({
        endpoint: `http://127.0.0.1:${port}/push/${encodeURIComponent(device)}`,
        keys: { p256dh: b64url(ecdh.getPublicKey()), auth }
      })
    },
    close: () => new Promise((r) => server.close(() => r()))
  }
}

// ---- APNs -----------------------------------------------------------------------------

export interface ApnsReceived {
  readonly token: string
  readonly headers: Record<string, string>
  readonly payload: { aps: Record<string, unknown> } & Record<string, unknown>
}

export interface ApnsServer {
  readonly url: string
  readonly keyPem: string
  readonly keyId: string
  readonly teamId: string
  readonly topic: string
  readonly received: ReturnType<typeof waitable<ApnsReceived>>
  readonly attempts: Array<string>
  readonly rejected: Array<string>
  readonly plan: (token: string, answers: ReadonlyArray<Answer>) => void
  readonly close: () => Promise<void>
}

export const startApnsServer = async (): Promise<ApnsServer> => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true })
  const keyPem = await exportPKCS8(privateKey)
  const verifyKey = await importSPKI(await exportSPKI(publicKey), "ES256")
  const keyId = "ABC123DEFG"
  const teamId = "TEAM123456"
  const topic = "com.example.chat"
  const received = waitable<ApnsReceived>()
  const attempts: Array<string> = []
  const rejected: Array<string> = []
  const script = scripted()
  const server = createHttp2Server()
  const sessions = new Set<import("node:http2").ServerHttp2Session>()
  server.on("session", (s) => {
    sessions.add(s)
    s.on("close", () => sessions.delete(s))
  })
  server.on("request", async (req, res) => {
    const body = await readBody(req)
    const token = decodeURIComponent(req.url.replace(/^\/3\/device\//, ""))
    attempts.push(token)
    const reply = (status: number, reason?: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "apns-id": crypto.randomUUID(), ...headers })
      if (reason === undefined) res.end()
      else res.end(JSON.stringify({ reason }))
    }
    try {
      const auth = String(req.headers.authorization ?? "")
      if (!auth.startsWith("bearer ")) throw new Error("no bearer provider token")
      const jwt = auth.slice(7)
      const header = decodeProtectedHeader(jwt)
      if (header.alg !== "ES256" || header.kid !== keyId) throw new Error(`bad JWT header ${JSON.stringify(header)}`)
      const { payload: claims } = await jwtVerify(jwt, verifyKey, { issuer: teamId, algorithms: ["ES256"] })
      if (typeof claims.iat !== "number") throw new Error("no iat")
      for (const [h, v] of [["apns-topic", topic], ["apns-push-type", "alert"]] as const) {
        if (req.headers[h] !== v) throw new Error(`${h} is ${String(req.headers[h])}`)
      }
      if (typeof req.headers["apns-collapse-id"] !== "string") throw new Error("no apns-collapse-id")
      const answer = script.next(token)
      if (answer === "gone") return reply(410, "Unregistered")
      if (answer === "busy") return reply(429, "TooManyRequests", { "retry-after": "0" })
      if (answer === "broken") return reply(500, "InternalServerError")
      received.push({
        token,
        headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith("apns-")).map(([k, v]) => [k, String(v)])),
        payload: JSON.parse(body.toString("utf8"))
      })
      reply(200)
    } catch (e) {
      rejected.push(String((e as Error).message))
      reply(403, "InvalidProviderToken")
    }
  })
  const port = await listen(server)
  return {
    url: `http://127.0.0.1:${port}`,
    keyPem,
    keyId,
    teamId,
    topic,
    received,
    attempts,
    rejected,
    plan: script.plan,
    close: () =>
      new Promise((r) => {
        for (const s of sessions) s.destroy()
        server.close(() => r())
      })
  }
}

// ---- FCM ------------------------------------------------------------------------------

export interface FcmReceived {
  readonly message: {
    readonly token: string
    readonly data: Record<string, string>
    readonly android: { readonly collapse_key: string } & Record<string, unknown>
  } & Record<string, unknown>
}

export interface FcmServer {
  readonly url: string
  /** The service account key file's JSON, its token_uri pointing here. */
  readonly serviceAccount: string
  readonly projectId: string
  readonly received: ReturnType<typeof waitable<FcmReceived>>
  readonly grants: Array<{ iss: unknown; aud: unknown; scope: unknown }>
  readonly rejected: Array<string>
  readonly plan: (token: string, answers: ReadonlyArray<Answer>) => void
  readonly close: () => Promise<void>
}

export const startFcmServer = async (): Promise<FcmServer> => {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true })
  const verifyKey = await importSPKI(await exportSPKI(publicKey), "RS256")
  const projectId = "chat-test-project"
  const clientEmail = "push@chat-test-project.iam.gserviceaccount.com"
  const received = waitable<FcmReceived>()
  const grants: FcmServer["grants"] = []
  const rejected: Array<string> = []
  const issued = new Set<string>()
  const script = scripted()
  let port = 0
  const server = createHttpServer(async (req, res) => {
    const body = (await readBody(req)).toString("utf8")
    const json = (status: number, value: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value))
    try {
      if (req.url === "/token") {
        const form = new URLSearchParams(body)
        if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") throw new Error("bad grant_type")
        const { payload } = await jwtVerify(form.get("assertion") ?? "", verifyKey, {
          issuer: clientEmail,
          audience: `http://127.0.0.1:${port}/token`,
          algorithms: ["RS256"]
        })
        grants.push({ iss: payload.iss, aud: payload.aud, scope: payload.scope })
        if (payload.scope !== "https://www.googleapis.com/auth/firebase.messaging") throw new Error("bad scope")
        const token = `ya29.${crypto.randomUUID()}`
        issued.add(token)
        return json(200, { access_token: token, expires_in: 3599, token_type: "Bearer" })
      }
      if (req.url === `/v1/projects/${projectId}/messages:send`) {
        const bearer = String(req.headers.authorization ?? "").replace(/^Bearer /, "")
        if (!issued.has(bearer)) return json(401, { error: { code: 401, status: "UNAUTHENTICATED" } })
        const { message } = JSON.parse(body) as FcmReceived
        if (typeof message?.token !== "string" || typeof message.data?.room !== "string") throw new Error("bad v1 message")
        for (const v of Object.values(message.data)) if (typeof v !== "string") throw new Error("data values must be strings")
        const answer = script.next(message.token)
        if (answer === "gone") {
          return json(404, {
            error: {
              code: 404,
              status: "NOT_FOUND",
              details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNREGISTERED" }]
            }
          })
        }
        if (answer === "busy") return res.writeHead(429, { "retry-after": "0" }).end()
        if (answer === "broken") return json(503, { error: { code: 503, status: "UNAVAILABLE" } })
        received.push({ message })
        return json(200, { name: `projects/${projectId}/messages/${crypto.randomUUID()}` })
      }
      json(404, { error: { code: 404, status: "NOT_FOUND" } })
    } catch (e) {
      rejected.push(String((e as Error).message))
      json(400, { error: { code: 400, status: "INVALID_ARGUMENT" } })
    }
  })
  port = await listen(server)
  const serviceAccount = JSON.stringify({
    type: "service_account",
    project_id: projectId,
    private_key_id: "key-1",
    private_key: await exportPKCS8(privateKey),
    client_email: clientEmail,
    token_uri: `http://127.0.0.1:${port}/token`
  })
  return {
    url: `http://127.0.0.1:${port}`,
    serviceAccount,
    projectId,
    received,
    grants,
    rejected,
    plan: script.plan,
    close: () => new Promise((r) => server.close(() => r()))
  }
}
