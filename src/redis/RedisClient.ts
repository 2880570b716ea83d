/**
 * The one place ioredis is used: a connection opened when the scope opens and closed
 * when it closes, with every failure turned into a `RedisError` here.
 *
 * The options favour failing fast over waiting: the shared presence, limits and caches
 * built on this all have a local fallback, so a command that cannot be sent now must fail
 * now (no offline queue), a command in flight when the connection drops fails instead of
 * being replayed (a replayed token-bucket or presence script would count twice), and a
 * server that stops answering fails the command after `commandTimeoutMs`. The connection
 * itself is re-established in the background with capped exponential backoff.
 */
import { Context, Data, Effect, Layer, Redacted, Runtime, type Scope } from "effect"
import { Redis } from "ioredis"

export class RedisError extends Data.TaggedError("RedisError")<{
  /** The command or script that failed ("connect", "PING", a script's name). */
  readonly operation: string
  readonly cause: unknown
}> {
  // The cause's text names host and port at most; ioredis never puts the password in it.
  override get message() {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `redis ${this.operation} failed: ${cause}`
  }
}

/** A Lua script, run with EVALSHA (EVAL when the server does not have it cached). */
export interface LuaScript {
  /** Names the script in errors and logs. */
  readonly name: string
  readonly source: string
}

export const defineScript = (name: string, source: string): LuaScript => ({ name, source })

export type RedisArg = string | number

export interface RedisClient {
  /** One command, e.g. `call("HMGET", [key, field])`; the reply as ioredis decodes it. */
  readonly call: (command: string, args: ReadonlyArray<RedisArg>) => Effect.Effect<unknown, RedisError>
  readonly evalScript: (
    script: LuaScript,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<RedisArg>
  ) => Effect.Effect<unknown, RedisError>
  readonly ping: Effect.Effect<void, RedisError>
  /** Whether commands can be sent right now. */
  readonly isReady: Effect.Effect<boolean>
  /** Completes when the connection is (again) ready; at once when it is. */
  readonly awaitReady: Effect.Effect<void>
}

export class RedisClientTag extends Context.Tag("redis/RedisClient")<RedisClientTag, RedisClient>() {}

export interface RedisClientOptions {
  /** Shown in logs and as CLIENT SETNAME; default "chat". */
  readonly name?: string
  /** Milliseconds to establish a connection; default 5000. */
  readonly connectTimeoutMs?: number
  /** Milliseconds a command may take before it fails; default 1000. */
  readonly commandTimeoutMs?: number
  /** Reconnect backoff starts at 50 ms and doubles up to this; default 2000. */
  readonly maxReconnectDelayMs?: number
}

const shas = new WeakMap<LuaScript, Promise<string>>()

// SHA-1 of the source is what EVALSHA names a script by; WebCrypto runs on Node and Deno alike.
const shaOf = (script: LuaScript): Promise<string> => {
  let sha = shas.get(script)
  if (sha === undefined) {
    sha = crypto.subtle
      .digest("SHA-1", new TextEncoder().encode(script.source))
      .then((d) => Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join(""))
    shas.set(script, sha)
  }
  return sha
}

const isNoScript = (e: unknown) => e instanceof Error && e.message.startsWith("NOSCRIPT")

/**
 * Connects to `url` (redis://[user:password@]host:port[/db], rediss:// for TLS). Fails
 * with RedisError("connect") when the first connection cannot be made, so a wrong URL
 * stops the node at start; later outages are reconnected in the background.
 */
export const make = (
  url: Redacted.Redacted<string>,
  options: RedisClientOptions = {}
): Effect.Effect<RedisClient, RedisError, Scope.Scope> =>
  Effect.gen(function* () {
    const name = options.name ?? "chat"
    const maxDelay = options.maxReconnectDelayMs ?? 2_000
    const runtime = yield* Effect.runtime<never>()
    const log = (effect: Effect.Effect<void>) =>
      void Runtime.runFork(runtime)(effect.pipe(Effect.annotateLogs({ redis: name })))

    let closing = false
    const redis = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Redis(Redacted.value(url), {
            lazyConnect: true,
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            autoResendUnfulfilledCommands: false,
            connectTimeout: options.connectTimeoutMs ?? 5_000,
            commandTimeout: options.commandTimeoutMs ?? 1_000,
            retryStrategy: (attempt) => Math.min(50 * 2 ** (attempt - 1), maxDelay),
            connectionName: name
          }),
        catch: (cause) => new RedisError({ operation: "connect", cause })
      }),
      (redis) =>
        Effect.promise(() => {
          closing = true
          return redis.quit().then(
            () => undefined,
            () => redis.disconnect()
          )
        })
    )

    // Connection errors repeat on every reconnect attempt; the log gets only the transitions.
    let lastError: unknown
    let connection: "connecting" | "ready" | "lost" = "connecting"
    redis.on("error", (e) => {
      lastError = e
    })
    redis.on("ready", () => {
      if (connection === "lost") log(Effect.logInfo("redis connection restored"))
      connection = "ready"
    })
    redis.on("close", () => {
      if (connection !== "ready" || closing) return
      connection = "lost"
      log(Effect.logWarning("redis connection lost; reconnecting in the background"))
    })

    yield* Effect.tryPromise({
      try: () => redis.connect(),
      catch: (cause) => new RedisError({ operation: "connect", cause: lastError ?? cause })
    }).pipe(
      // No background reconnecting for a client that is never handed out.
      Effect.tapError(() => Effect.sync(() => redis.disconnect()))
    )

    const call = (command: string, args: ReadonlyArray<RedisArg>) =>
      Effect.tryPromise({
        try: () => redis.call(command, [...args]),
        catch: (cause) => new RedisError({ operation: command, cause })
      })

    const evalScript = (script: LuaScript, keys: ReadonlyArray<string>, args: ReadonlyArray<RedisArg>) =>
      Effect.tryPromise({
        try: async () => {
          const sha = await shaOf(script)
          try {
            return await redis.evalsha(sha, keys.length, ...keys, ...args)
          } catch (e) {
            // The server's script cache is empty after a restart or SCRIPT FLUSH; EVAL refills it.
            if (isNoScript(e)) return await redis.eval(script.source, keys.length, ...keys, ...args)
            throw e
          }
        },
        catch: (cause) => new RedisError({ operation: script.name, cause })
      })

    // The socket stops being writable (peer closed) a moment before ioredis leaves "ready".
    const ready = () => redis.status === "ready" && redis.stream?.writable === true

    const awaitReady: Effect.Effect<void> = Effect.async<void>((resume) => {
      if (ready()) return resume(Effect.void)
      const onReady = () => resume(Effect.void)
      redis.once("ready", onReady)
      return Effect.sync(() => void redis.off("ready", onReady))
    })

    return {
      call,
      evalScript,
      ping: Effect.asVoid(call("PING", [])),
      isReady: Effect.sync(ready),
      awaitReady
    }
  })

export const layer = (url: Redacted.Redacted<string>, options?: RedisClientOptions): Layer.Layer<RedisClientTag, RedisError> =>
  Layer.scoped(RedisClientTag, make(url, options))

/**
 * The client behind a circuit breaker (src/resilience/Breaker.ts): while it is open, every
 * command fails at once with RedisError (the presence, limiter and cache built on the client
 * then answer from this node, as they do when Redis is down), instead of each waiting for its
 * command timeout; every failure counts toward opening it. The breaker's probe (a PING on the
 * raw client) closes it, and the heartbeat's resync then brings Redis up to date. A command
 * that timed out makes the breaker check Redis at once: a hung server opens it within about
 * two seconds instead of three rounds of timeouts.
 */
export const guarded = (
  client: RedisClient,
  breaker: {
    readonly reject: () => { readonly message: string } | undefined
    readonly success: () => void
    readonly failure: (cause: string) => void
    readonly hung: (cause: string) => void
  }
): RedisClient => {
  const guard = (operation: string, run: () => Effect.Effect<unknown, RedisError>): Effect.Effect<unknown, RedisError> =>
    Effect.suspend(() => {
      const refused = breaker.reject()
      if (refused !== undefined) return Effect.fail(new RedisError({ operation, cause: "circuit open" }))
      return run().pipe(
        Effect.tapBoth({
          // A command timeout is a hang (a stopped server, a black hole): the breaker checks at once.
          onFailure: (e) => Effect.sync(() => (/timed out/i.test(e.message) ? breaker.hung(e.message) : breaker.failure(e.message))),
          onSuccess: () => Effect.sync(() => breaker.success())
        })
      )
    })
  return {
    ...client,
    call: (command, args) => guard(command, () => client.call(command, args)),
    evalScript: (script, keys, args) => guard(script.name, () => client.evalScript(script, keys, args))
  }
}
