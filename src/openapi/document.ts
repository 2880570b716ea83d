/**
 * The OpenAPI 3.1 document of the REST API. Request bodies and queries are the very
 * Schemas the handlers decode with (src/protocol/rest.ts), turned into JSON Schema by
 * Effect's JSONSchema; answers are described by ./responses.ts. Each route of
 * src/http/app.ts has one entry here, and tests/unit/openapi.test.ts fails when a route
 * exists that this does not describe, or the other way round.
 */
import { JSONSchema, Schema } from "effect"
import * as Rest from "../protocol/rest.ts"
import * as R from "./responses.ts"
import { ServiceAddMembers, ServiceCreateGroup, ServiceRemoveQuery, ServiceSend } from "../serverApi/serverApi.ts"
import { DevTokenRequest } from "../http/web.ts"

type AnySchema = Schema.Schema<any, any, never>

export interface RouteDoc {
  readonly method: "get" | "post" | "put" | "patch" | "delete"
  /** OpenAPI form: `/v1/rooms/{room}`. */
  readonly path: string
  readonly summary: string
  /** Default: a user's bearer JWT. */
  readonly auth?: "none" | "user" | "service"
  readonly body?: AnySchema
  readonly query?: AnySchema
  /** Status -> answer schema (null: no body; "text": text/plain; "html": text/html). */
  readonly responses: Readonly<Record<number, AnySchema | null | "text" | "html">>
}

const room = { name: "room", in: "path", required: true, description: "room id (UUID)", schema: { type: "string", format: "uuid" } }

export const routes: ReadonlyArray<RouteDoc> = [
  { method: "get", path: "/healthz", summary: "Liveness", auth: "none", responses: { 200: R.Health } },
  { method: "get", path: "/readyz", summary: "Readiness (store, NATS, Redis; 503 while draining)", auth: "none", responses: { 200: R.Ready, 503: R.Ready } },
  { method: "get", path: "/v1/push/vapid-public-key", summary: "The VAPID public key for web push subscriptions (404 when web push is not configured)", auth: "none", responses: { 200: Schema.Struct({ publicKey: Schema.String }), 404: R.Error } },
  { method: "get", path: "/metrics", summary: "Prometheus metrics", auth: "none", responses: { 200: "text" } },
  { method: "get", path: "/openapi.json", summary: "This document", auth: "none", responses: { 200: Schema.Object } },
  { method: "get", path: "/asyncapi.json", summary: "AsyncAPI 3 document of the WebSocket protocol and the NATS subjects", auth: "none", responses: { 200: Schema.Object } },
  { method: "get", path: "/docs", summary: "Interactive reference of this document", auth: "none", responses: { 200: "html" } },
  // The web chat (clients/web): its page here; the files it loads (/app.js, ...) are not API and not listed.
  { method: "get", path: "/", summary: "The web chat page (a page saying how to build it when clients/web is not built)", auth: "none", responses: { 200: "html" } },
  {
    method: "get",
    path: "/v1/dev",
    summary: "Whether development sign-in is offered: only in embedded mode with the generated development secret (404 otherwise)",
    auth: "none",
    responses: { 200: Schema.Struct({ devTokens: Schema.Literal(true) }), 404: R.Error }
  },
  {
    method: "post",
    path: "/v1/dev/token",
    summary: "Development sign-in: a user token for the typed name; only in embedded mode with the generated development secret (404 otherwise)",
    auth: "none",
    body: DevTokenRequest,
    responses: { 200: Schema.Struct({ token: Schema.String }), 400: R.Error, 404: R.Error }
  },
  {
    method: "get",
    path: "/v1/ws",
    summary: "WebSocket upgrade (protocol: /asyncapi.json, docs/protocol.md); token as bearer header or `access_token` query",
    responses: { 101: null }
  },
  { method: "post", path: "/v1/rooms", summary: "Create a direct room (200 when it existed) or a group room", body: Rest.CreateRoom, responses: { 200: R.Room, 201: R.Room } },
  { method: "get", path: "/v1/rooms", summary: "The caller's rooms, most recently active first", query: Rest.ListRoomsQuery, responses: { 200: R.RoomPage } },
  { method: "get", path: "/v1/rooms/{room}", summary: "A room the caller is a member of", responses: { 200: R.Room } },
  { method: "patch", path: "/v1/rooms/{room}", summary: "Rename a group room (owner/admin)", body: Rest.PatchRoom, responses: { 200: R.Room } },
  { method: "post", path: "/v1/rooms/{room}/members", summary: "Add members (owner/admin)", body: Rest.AddMembers, responses: { 200: R.Room } },
  { method: "delete", path: "/v1/rooms/{room}/members/{user}", summary: "Remove a member (owner/admin), or leave (yourself)", responses: { 200: R.Ack } },
  { method: "get", path: "/v1/rooms/{room}/presence", summary: "Members with a live subscription", responses: { 200: R.Presence } },
  { method: "put", path: "/v1/rooms/{room}/pin", summary: "Pin the room for the caller", responses: { 204: null } },
  { method: "delete", path: "/v1/rooms/{room}/pin", summary: "Unpin the room", responses: { 204: null } },
  { method: "get", path: "/v1/rooms/{room}/messages", summary: "History, newest first", query: Rest.HistoryQuery, responses: { 200: R.HistoryPage } },
  { method: "post", path: "/v1/rooms/{room}/messages", summary: "Send (idempotent per clientMsgId)", body: Rest.PostMessage, responses: { 201: R.Ack } },
  { method: "post", path: "/v1/rooms/{room}/read", summary: "Move the caller's read position", body: Rest.PostRead, responses: { 200: R.ReadAck } },
  { method: "post", path: "/v1/devices", summary: "Register a push device token", body: Rest.PostDevice, responses: { 204: null } },
  { method: "get", path: "/v1/devices", summary: "The caller's device tokens", responses: { 200: R.Devices } },
  { method: "delete", path: "/v1/devices/{token}", summary: "Unregister a device token", responses: { 204: null } },
  // The server API for backends (service key, CHAT_SERVICE_KEYS): acts as the user it names.
  { method: "post", path: "/v1/server/rooms", summary: "Create a group room owned by `owner`", auth: "service", body: ServiceCreateGroup, responses: { 201: R.Room } },
  { method: "post", path: "/v1/server/rooms/{room}/messages", summary: "Send as `sender` (a member); idempotent per (sender, clientMsgId)", auth: "service", body: ServiceSend, responses: { 201: R.Ack } },
  { method: "post", path: "/v1/server/rooms/{room}/members", summary: "Add members, as `actor` (owner/admin)", auth: "service", body: ServiceAddMembers, responses: { 200: R.Room } },
  { method: "delete", path: "/v1/server/rooms/{room}/members/{user}", summary: "Remove a member, as `actor` (owner/admin, or the user leaving)", auth: "service", query: ServiceRemoveQuery, responses: { 200: R.Ack } }
]

const statusText: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  413: "too_large",
  429: "rate_limited",
  503: "unavailable"
}

/** Builds the document; shared schemas (those with an identifier) go to components. */
export const makeDocument = (info: { readonly version: string }) => {
  const definitions: Record<string, any> = {}
  const jsonSchema = (schema: AnySchema) =>
    JSONSchema.fromAST(schema.ast, {
      definitions,
      definitionPath: "#/components/schemas/",
      target: "openApi3.1",
      // Handlers ignore properties they do not know.
      additionalPropertiesStrategy: "allow"
    })
  const content = (schema: AnySchema | "text" | "html") =>
    schema === "text"
      ? { "text/plain": { schema: { type: "string" } } }
      : schema === "html"
        ? { "text/html": { schema: { type: "string" } } }
        : { "application/json": { schema: jsonSchema(schema) } }
  const errorResponse = { description: "error", content: content(R.Error) }

  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const parameters: Array<unknown> = []
    for (const [, name] of r.path.matchAll(/\{(\w+)\}/g)) {
      parameters.push(name === "room" ? room : { name, in: "path", required: true, schema: { type: "string" } })
    }
    if (r.query) {
      const q = jsonSchema(r.query) as { properties?: Record<string, unknown>; required?: string[] }
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        parameters.push({ name, in: "query", required: (q.required ?? []).includes(name), schema })
      }
    }
    const responses: Record<string, unknown> = {}
    for (const [status, schema] of Object.entries(r.responses)) {
      responses[status] = {
        description: statusText[Number(status)] ?? status,
        ...(schema === null ? {} : { content: content(schema) })
      }
    }
    if (r.auth !== "none") {
      for (const s of [400, 401, 404, 413, 429, 503]) responses[String(s)] ??= errorResponse
    }
    ;(paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      operationId: `${r.method}${r.path.replace(/[{}]/g, "").replace(/[/.](\w)/g, (_, c: string) => c.toUpperCase())}`,
      ...(r.auth === "none" ? { security: [] } : r.auth === "service" ? { security: [{ serviceKey: [] }] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: content(r.body) } } : {}),
      responses
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "chat-backend REST API",
      version: info.version,
      description:
        "REST surface of the chat backend. Realtime delivery is the WebSocket protocol (/asyncapi.json); the same operations are also a Connect/gRPC API (proto/chat/v1). Errors: docs/errors.md."
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "a user's token (JWT `sub` = user id)" },
        serviceKey: { type: "http", scheme: "bearer", description: "a service key from CHAT_SERVICE_KEYS (server API only)" }
      },
      schemas: definitions
    },
    security: [{ bearer: [] }],
    paths
  }
}
