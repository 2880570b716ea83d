/**
 * Test-side helpers for the Redis services: a client on a test server, a key prefix of
 * the test's own, a log capture, and a partition between one "node" and Redis (the real
 * server keeps running for the other nodes; only this node's calls fail, as they would
 * behind a broken network).
 */
import { Effect, Layer, LogLevel, Redacted, type Scope } from "effect"
import * as Logging from "../../src/logging/Logging.ts"
import * as RedisClient from "../../src/redis/RedisClient.ts"

/** Keys of one test: `test:<random>:`. */
export const testPrefix = () => `test:${crypto.randomUUID().slice(0, 8)}:`

/** A client that reconnects quickly, so a test that restarts Redis waits for Redis, not for backoff. */
export const redisClient = (
  url: string,
  options: RedisClient.RedisClientOptions = {}
): Effect.Effect<RedisClient.RedisClient, RedisClient.RedisError, Scope.Scope> =>
  RedisClient.make(Redacted.make(url), { maxReconnectDelayMs: 100, ...options })

export interface Partitionable {
  readonly client: RedisClient.RedisClient
  readonly cut: () => void
  readonly heal: () => void
}

export const partitionable = (client: RedisClient.RedisClient): Partitionable => {
  let cut = false
  const guard = <A>(operation: string, effect: Effect.Effect<A, RedisClient.RedisError>) =>
    Effect.suspend(() =>
      cut ? Effect.fail(new RedisClient.RedisError({ operation, cause: "partitioned by the test" })) : effect
    )
  return {
    client: {
      call: (command, args) => guard(command, client.call(command, args)),
      evalScript: (script, keys, args) => guard(script.name, client.evalScript(script, keys, args)),
      ping: guard("PING", client.ping),
      isReady: Effect.suspend(() => (cut ? Effect.succeed(false) : client.isReady)),
      awaitReady: client.awaitReady
    },
    cut: () => {
      cut = true
    },
    heal: () => {
      cut = false
    }
  }
}

/** Every log line, parsed; provide `layer` to the code under test. */
export const captureLogs = () => {
  const lines: Array<{ message: unknown; logLevel: string }> = []
  return {
    lines,
    layer: Logging.layerCapture((l) => lines.push(JSON.parse(l)), LogLevel.All) as Layer.Layer<never>,
    /** How many lines carry `text` in their message. */
    count: (text: string) => lines.filter((l) => JSON.stringify(l.message).includes(text)).length
  }
}
