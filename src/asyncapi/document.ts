/**
 * The AsyncAPI 3 document of the WebSocket protocol and the public NATS subjects. Client
 * frames are generated from the Schemas the server decodes them with (src/protocol/frames.ts),
 * the NATS ingress request from its Schema (src/cluster/Ingress.ts), the frames the server
 * writes and the push intents from theirs (src/protocol/serverFrames.ts, src/protocol/cluster.ts).
 * tests/unit/asyncapi.test.ts validates it with @asyncapi/parser and checks it against those
 * modules. Served at /asyncapi.json.
 */
import { JSONSchema, Schema } from "effect"
import { SendRequest } from "../cluster/Ingress.ts"
import { ClientFrame } from "../protocol/frames.ts"
import { PushIntent } from "../protocol/cluster.ts"
import { ServerFrames } from "../protocol/serverFrames.ts"
import * as R from "../openapi/responses.ts"

const jsonSchema = (schema: Schema.Schema<any, any, never>, definitions: Record<string, unknown>) =>
  JSONSchema.fromAST(schema.ast, {
    definitions: definitions as Record<string, any>,
    definitionPath: "#/components/schemas/",
    target: "jsonSchema7",
    additionalPropertiesStrategy: "allow"
  })

/** The `type` of each client frame, in ClientFrame's order. */
export const clientFrameTypes = (): ReadonlyArray<string> =>
  ClientFrame.members.map((m) => (m.fields.type.literals as ReadonlyArray<string>)[0])

const obj = (properties: Record<string, unknown>, required: ReadonlyArray<string>) => ({ type: "object", properties, required })
const str = { type: "string" }

/** The frames the server writes, by `type`: generated from their Schemas (src/protocol/serverFrames.ts). */
export const serverFrames = (definitions: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(ServerFrames.map((frame) => [frame.fields.type.literals[0], jsonSchema(frame, definitions)]))

export const makeAsyncApi = (info: { readonly version: string }) => {
  const definitions: Record<string, unknown> = {}
  const messages: Record<string, unknown> = {}
  const wsMessages: Record<string, unknown> = {}
  const add = (name: string, payload: unknown, summary: string) => {
    messages[name] = { name, summary, contentType: "application/json", payload }
    return { $ref: `#/components/messages/${name}` }
  }
  const clientNames: string[] = []
  ClientFrame.members.forEach((member, i) => {
    const name = `client.${clientFrameTypes()[i]}`
    clientNames.push(name)
    wsMessages[name] = add(name, jsonSchema(member as Schema.Schema<any, any, never>, definitions), `client frame \`${clientFrameTypes()[i]}\``)
  })
  const serverNames: string[] = []
  for (const [type, payload] of Object.entries(serverFrames(definitions))) {
    const name = `server.${type}`
    serverNames.push(name)
    wsMessages[name] = add(name, payload, `server frame \`${type}\``)
  }
  const room = { description: "room id (UUID, lower case)" }
  return {
    asyncapi: "3.0.0",
    info: {
      title: "chat-backend realtime protocol",
      version: info.version,
      description:
        "The WebSocket protocol (docs/protocol.md) and the public NATS subjects of clustered mode. With CHAT_NATS_PREFIX set, every subject starts with `<prefix>.`."
    },
    servers: {
      websocket: { host: "localhost:8080", protocol: "ws", pathname: "/v1/ws", description: "bearer JWT (header or access_token query)" },
      nats: { host: "localhost:4222", protocol: "nats", description: "the cluster's NATS (clustered mode)" }
    },
    channels: {
      socket: { address: "/v1/ws", servers: [{ $ref: "#/servers/websocket" }], messages: wsMessages },
      roomSend: {
        address: "chat.room.{room}.send",
        parameters: { room },
        servers: [{ $ref: "#/servers/nats" }],
        messages: {
          sendRequest: add("nats.sendRequest", jsonSchema(SendRequest, definitions), "send as a member (request)"),
          sendReply: add(
            "nats.sendReply",
            { oneOf: [obj({ ok: { const: true }, ack: jsonSchema(R.Ack, definitions) }, ["ok", "ack"]), obj({ ok: { const: false }, error: obj({ code: str, message: str }, ["code", "message"]) }, ["ok", "error"])] },
            "the ack, or the error"
          )
        }
      },
      roomEvents: {
        address: "chat.room.{room}.events",
        parameters: { room },
        servers: [{ $ref: "#/servers/nats" }],
        messages: { event: { $ref: "#/components/messages/server.event" } }
      },
      push: {
        address: "chat.push.{user}",
        parameters: { user: { description: "the user id, UTF-8, base64url without padding" } },
        servers: [{ $ref: "#/servers/nats" }],
        messages: {
          intent: add(
            "nats.pushIntent",
            jsonSchema(PushIntent, definitions),
            "a message for a member with no live socket (JetStream stream CHAT_PUSH); no body"
          )
        }
      }
    },
    operations: {
      clientFrames: {
        action: "receive",
        channel: { $ref: "#/channels/socket" },
        messages: clientNames.map((n) => ({ $ref: `#/channels/socket/messages/${n}` }))
      },
      serverFrames: {
        action: "send",
        channel: { $ref: "#/channels/socket" },
        messages: serverNames.map((n) => ({ $ref: `#/channels/socket/messages/${n}` }))
      },
      ingress: {
        action: "receive",
        channel: { $ref: "#/channels/roomSend" },
        messages: [{ $ref: "#/channels/roomSend/messages/sendRequest" }],
        reply: { channel: { $ref: "#/channels/roomSend" }, messages: [{ $ref: "#/channels/roomSend/messages/sendReply" }] }
      },
      roomEvents: { action: "send", channel: { $ref: "#/channels/roomEvents" }, messages: [{ $ref: "#/channels/roomEvents/messages/event" }] },
      pushIntents: { action: "send", channel: { $ref: "#/channels/push" }, messages: [{ $ref: "#/channels/push/messages/intent" }] }
    },
    components: { messages, schemas: definitions }
  }
}
