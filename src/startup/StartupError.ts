/**
 * Start-up failures as one line: which dependency or setting, at which address, and the
 * cause as the operating system or the server said it (`ECONNREFUSED`, `EADDRINUSE`,
 * `database "x" does not exist`). The start-up steps in src/server.ts wrap their errors
 * with `step`; `describeFailure` turns whatever ended the program into that line.
 */
import { Cause, ConfigError, Data, Effect, FiberRef, HashSet, Logger, LogLevel, Option, Redacted } from "effect"
import * as Logging from "../logging/Logging.ts"

export class StartupError extends Data.TaggedError("StartupError")<{
  /** The dependency and the setting that points at it: "PostgreSQL (CHAT_POSTGRES_URL)". */
  readonly dependency: string
  /** host:port (never credentials); empty when there is none. */
  readonly address: string
  readonly cause: unknown
}> {
  override get message() {
    return `${this.dependency}${this.address === "" ? "" : ` at ${this.address}`}: ${rootCause(this.cause)}`
  }
}

/** Wraps a start-up step's failure so that it names the dependency and the address. */
export const step =
  (dependency: string, address: string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, StartupError, R> =>
    Effect.mapError(self, (cause) => new StartupError({ dependency, address, cause }))

/** host:port[,host:port…] of URLs, without user, password, path or query. */
export const addressOf = (urls: Redacted.Redacted<string> | string): string =>
  (typeof urls === "string" ? urls : Redacted.value(urls))
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean)
    .map((u) => {
      try {
        const url = new URL(u.includes("://") ? u : `tcp://${u}`)
        const db = url.protocol.startsWith("postgres") && url.pathname.length > 1 ? url.pathname : ""
        return `${url.host}${db}`
      } catch {
        return "(unparsable URL)"
      }
    })
    .join(",")

const codeOf = (e: unknown): string | undefined => {
  const c = (e as { code?: unknown } | null)?.code
  return typeof c === "string" || typeof c === "number" ? String(c) : undefined
}

const text = (e: unknown): string => {
  if (e instanceof Error || (typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string")) {
    const message = (e as { message: string }).message
    const code = codeOf(e)
    return code !== undefined && !message.includes(code) ? `${code} ${message}` : message
  }
  return String(e)
}

/**
 * The innermost cause worth showing: libraries wrap the socket error (cassandra-driver's
 * NoHostAvailableError keeps it per host in `innerErrors`, AggregateError in `errors`,
 * our tagged errors in `cause`).
 */
export const rootCause = (e: unknown, depth = 0): string => {
  if (depth > 8 || typeof e !== "object" || e === null) return text(e)
  const o = e as { cause?: unknown; errors?: unknown; innerErrors?: unknown; _tag?: string }
  if (o.innerErrors !== undefined && typeof o.innerErrors === "object" && o.innerErrors !== null) {
    const inner = Object.entries(o.innerErrors as Record<string, unknown>)
    if (inner.length > 0) return inner.map(([host, err]) => `${host}: ${rootCause(err, depth + 1)}`).join("; ")
  }
  if (Array.isArray(o.errors) && o.errors.length > 0) return [...new Set(o.errors.map((x) => rootCause(x, depth + 1)))].join("; ")
  if (o.cause !== undefined && o.cause !== null && typeof o.cause === "object") return rootCause(o.cause, depth + 1)
  if (typeof o.cause === "string") return o.cause
  return text(e)
}

const isConfigError = (e: unknown): e is ConfigError.ConfigError => ConfigError.isConfigError(e)

/** One line for whatever ended the program. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  const e = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  // ConfigError renders as "(Invalid data at CHAT_PORT: "…")"; the setting leads.
  if (isConfigError(e)) return `configuration: ${String(e).replace(/^\(|\)$/g, "")}`
  const tag = (e as { _tag?: unknown } | null)?._tag
  if (tag === "StartupError" || tag === "DataDirLocked" || tag === "DataDirLockError" || tag === "DataDirError" || tag === "SecretError") {
    return (e as Error).message
  }
  return `${typeof tag === "string" ? `${tag}: ` : ""}${rootCause(e)}`
}

/**
 * Logs the failure as one JSON line (the node's log format) at FATAL: no stack, no nested
 * cause. The JSON logger is installed here because the failure may have come before the
 * configured one (a bad setting), and as the only logger: the configured one may still be
 * installed (a failure after the layers were built), and two would print the line twice.
 */
export const logFailure = (cause: Cause.Cause<unknown>, what = "start-up failed"): Effect.Effect<void> =>
  Cause.isInterruptedOnly(cause)
    ? Effect.void
    : Effect.logFatal(`${what}: ${describeFailure(cause)}`).pipe(
        Effect.locally(FiberRef.currentLoggers, HashSet.make(Logger.withConsoleLog(Logging.redactingJsonLogger))),
        Effect.locally(FiberRef.currentMinimumLogLevel, LogLevel.Error)
      )

/** The store's dependency name, its settings and address, for `step`. */
export const storeStep = (config: {
  readonly store: string
  readonly dataDir: string
  readonly postgresUrl: Option.Option<Redacted.Redacted<string>>
  readonly scyllaContactPoints: ReadonlyArray<string>
}) => {
  const pg = Option.match(config.postgresUrl, { onNone: () => "", onSome: addressOf })
  const cql = config.scyllaContactPoints.join(",")
  switch (config.store) {
    case "postgres":
      return step("PostgreSQL (CHAT_POSTGRES_URL)", pg)
    case "scylla":
      return step("ScyllaDB (CHAT_SCYLLA_CONTACT_POINTS)", cql)
    case "dual":
      return step("PostgreSQL (CHAT_POSTGRES_URL) + ScyllaDB (CHAT_SCYLLA_CONTACT_POINTS)", `${pg} + ${cql}`)
    default:
      return step("PGlite (CHAT_DATA_DIR)", config.dataDir)
  }
}
