/**
 * What both Node entry points (server and CLI) run on: configuration from the environment,
 * JSON logging installed before anything else logs, Node's file system, resolved secrets,
 * the data directory lock (node:net, which Deno implements too).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Layer } from "effect"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { Secrets } from "../config/secrets.ts"
import * as Logging from "../logging/Logging.ts"
import { DataDirLocker } from "../startup/DataDirLock.ts"
import { tryLock } from "./dataDirLock.ts"

const logging = Logging.layer.pipe(Layer.provide(ChatConfigTag.layer))

export const nodeServices = Secrets.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(ChatConfigTag.layer, NodeContext.layer, Layer.succeed(DataDirLocker, { tryLock }))),
  Layer.provideMerge(logging)
)
