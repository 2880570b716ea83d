/**
 * The ioredis edge (src/redis/RedisClient.ts) against real redis-server processes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { inject } from "vitest"
import { defineScript, make, RedisError } from "../../src/redis/RedisClient.ts"
import { startRedis } from "../support/redis.ts"
import { captureLogs, redisClient, testPrefix } from "../support/redisClient.ts"
import { freePort } from "../support/ports.ts"

const incrBy = defineScript("test-incrby", "return redis.call('INCRBY', KEYS[1], ARGV[1])")

describe("redis client", () => {
  it.scoped("fails with RedisError connect, without the password, when no server answers", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const error = yield* Effect.flip(make(Redacted.make(`redis://:s3cret-pw@127.0.0.1:${port}`)))
      expect(error).toBeInstanceOf(RedisError)
      expect(error.operation).toBe("connect")
      expect(error.message).toContain("ECONNREFUSED")
      expect(error.message).not.toContain("s3cret-pw")
    })
  )

  it.scoped("runs a script by EVALSHA, and by EVAL again after the server's script cache is flushed", () =>
    Effect.gen(function* () {
      const client = yield* redisClient(inject("redisUrl"))
      const key = `${testPrefix()}n`
      expect(yield* client.evalScript(incrBy, [key], [2])).toBe(2)
      expect(yield* client.evalScript(incrBy, [key], [3])).toBe(5)
      yield* client.call("SCRIPT", ["FLUSH"])
      expect(yield* client.evalScript(incrBy, [key], [1])).toBe(6)
      yield* client.call("DEL", [key])
    })
  )

  it.scoped("fails commands at once while the server is down, logs the loss once, and works again after it restarts", () =>
    Effect.gen(function* () {
      const redis = yield* Effect.acquireRelease(Effect.promise(startRedis), (r) => Effect.promise(r.stop))
      const logs = captureLogs()
      const client = yield* redisClient(redis.url).pipe(Effect.provide(logs.layer))
      yield* client.ping
      yield* Effect.promise(redis.stop)

      const down = yield* Effect.flip(client.ping)
      expect(down).toBeInstanceOf(RedisError)
      expect(yield* client.isReady).toBe(false)
      yield* Effect.flip(client.call("GET", ["k"]))

      yield* Effect.promise(redis.restart)
      yield* client.awaitReady
      yield* client.ping
      expect(logs.count("redis connection lost")).toBe(1)
      expect(logs.count("redis connection restored")).toBe(1)
    })
  )
})
