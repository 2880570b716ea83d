/**
 * Logging: one JSON object per line on stdout, minimum level from CHAT_LOG_LEVEL, with
 * annotations and messages passed through `redact` and the final line scrubbed of
 * JWT-shaped strings and URL passwords (that also covers rendered causes).
 */
import { Effect, HashMap, Layer, Logger, LogLevel } from "effect"
import { ChatConfigTag } from "../config/ChatConfig.ts"
import { isSensitiveKey, REDACTED, redact, scrubText } from "./redact.ts"

/** Effect's JSON logger with redaction on the way in and scrubbing on the way out. */
export const redactingJsonLogger: Logger.Logger<unknown, string> = Logger.jsonLogger.pipe(
  Logger.mapInputOptions((options: Logger.Logger.Options<unknown>) => ({
    ...options,
    message: redact(options.message),
    annotations: HashMap.map(options.annotations, (value, key) => (isSensitiveKey(key) ? REDACTED : redact(value)))
  })),
  Logger.map(scrubText)
)

const install = (logger: Logger.Logger<unknown, unknown>, level: LogLevel.LogLevel): Layer.Layer<never> =>
  Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(level))

/** JSON lines on stdout at `level` and above. */
export const layerJson = (level: LogLevel.LogLevel): Layer.Layer<never> =>
  install(Logger.withConsoleLog(redactingJsonLogger), level)

/** JSON lines at CHAT_LOG_LEVEL. */
export const layer: Layer.Layer<never, never, ChatConfigTag> = Layer.unwrapEffect(
  Effect.map(ChatConfigTag, (config) => layerJson(config.logLevel))
)

/** For tests: every line that would be printed goes to `sink` instead. */
export const layerCapture = (sink: (line: string) => void, level: LogLevel.LogLevel = LogLevel.All): Layer.Layer<never> =>
  install(Logger.map(redactingJsonLogger, sink), level)
