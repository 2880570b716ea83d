/** GET /asyncapi.json (WebSocket frames and NATS subjects, AsyncAPI 3), GET /openapi.json (the REST API's OpenAPI 3.1 document) and GET /docs (Scalar's reference page). */
import { Scalar } from "@scalar/hono-api-reference"
import type { Hono } from "hono"
import { makeAsyncApi } from "../asyncapi/document.ts"
import { makeDocument } from "./document.ts"

export const mountDocs = (app: Hono<any>, version: string): void => {
  // Built once: the document depends on code only.
  const document = makeDocument({ version })
  const asyncApi = makeAsyncApi({ version })
  app.get("/openapi.json", (c) => c.json(document))
  app.get("/asyncapi.json", (c) => c.json(asyncApi))
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "chat-backend REST API" }))
}
