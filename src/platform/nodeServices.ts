/**
 * What both Node entry points (server and CLI) run on: configuration from the environment,
 * JSON logging installed before anything else logs, Node's file system, resolved secrets.
 */
import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import * as Logging from "../logging/Logging.ts"

const logging = Logging.layer.pipe(Layer.provide(ChatConfigTag.layer))

export const nodeServices = Secrets.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(ChatConfigTag.layer, NodeContext.layer)),
  Layer.provideMerge(logging)
)
