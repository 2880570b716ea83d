/**
 * The one configuration definition. `settings` is the table: the Effect `Config` and the
 * README's variable table (src/config/docs.ts) are both generated from it.
 */
import { Config, ConfigError, ConfigProvider, Context, Effect, Either, Layer, LogLevel, Option, Redacted } from "effect"
import { CONSISTENCIES, type Consistency } from "../../storage/scylla/consistency.ts"
import * as S from "./setting.ts"

export const STORES = ["pglite", "postgres", "scylla", "dual"] as const
export type StoreKind = (typeof STORES)[number]

/** Which side answers reads when CHAT_STORE=dual (writes always go to PostgreSQL first). */
export const DUAL_READS = ["postgres", "scylla"] as const
export type DualReadKind = (typeof DUAL_READS)[number]

export { CONSISTENCIES, type Consistency } from "../../storage/scylla/consistency.ts"

/** Asymmetric JWS algorithms accepted for PEM public keys (HS256 is implied by CHAT_JWT_SECRET). */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"
] as const
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number]
const isAsymmetricAlgorithm = (s: string): s is AsymmetricAlgorithm => (ASYMMETRIC_ALGORITHMS as ReadonlyArray<string>).includes(s)

export interface ChatConfig {
  readonly port: number
  readonly host: string
  readonly grpcPort: Option.Option<string>
  readonly dataDir: string
  readonly store: StoreKind
  readonly dualRead: DualReadKind
  readonly postgresUrl: Option.Option<Redacted.Redacted<string>>
  readonly postgresPool: number
  readonly commitLingerMs: number
  readonly scyllaContactPoints: ReadonlyArray<string>
  readonly scyllaKeyspace: string
  readonly scyllaLocalDc: string
  readonly scyllaConsistency: Consistency
  readonly natsUrl: Option.Option<Redacted.Redacted<string>>
  readonly natsPrefix: string
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly jwtSecret: Option.Option<Redacted.Redacted<string>>
  readonly jwksUrl: Option.Option<string>
  readonly jwtPublicKey: Option.Option<string>
  readonly jwtAlgorithms: ReadonlyArray<AsymmetricAlgorithm>
  readonly jwtIssuer: Option.Option<string>
  readonly jwtAudience: Option.Option<string>
  readonly masterKey: Option.Option<Redacted.Redacted<string>>
  readonly masterKeysOld: ReadonlyArray<Redacted.Redacted<string>>
  readonly serviceKeys: ReadonlyArray<Redacted.Redacted<string>>
  readonly nodeId: string
  readonly logLevel: LogLevel.LogLevel
  readonly maxBodyBytes: number
  readonly maxFrameBytes: number
  readonly replayCap: number
  readonly maxSubscriptions: number
  readonly maxSocketsPerUser: number
  readonly typingIntervalMs: number
  readonly sendRate: number
  readonly sendBurst: number
  readonly wsMaxBufferedBytes: number
  readonly mailboxCapacity: number
  readonly maxBatch: number
  readonly actorIdleMs: number
  readonly commandTimeoutMs: number
  readonly storeTimeoutMs: number
  readonly shutdownGraceMs: number
  readonly shards: number
  readonly leaseMs: number
  readonly natsReplicas: number
  readonly pushWorker: PushWorkerMode
  readonly pushSuppress: PushSuppress
  readonly pushSettleMs: number
  readonly pushPollMs: number
  readonly pushLeaseMs: number
  readonly pushMaxAttempts: number
  readonly pushRetryBaseMs: number
  readonly pushRetryMaxMs: number
  readonly pushPreviewChars: number
  readonly pushTtlSeconds: number
  readonly vapidPublicKey: Option.Option<string>
  readonly vapidPrivateKey: Option.Option<Redacted.Redacted<string>>
  readonly vapidSubject: string
  readonly apnsKeyFile: Option.Option<string>
  readonly apnsKeyId: Option.Option<string>
  readonly apnsTeamId: Option.Option<string>
  readonly apnsTopic: Option.Option<string>
  readonly apnsUrl: string
  readonly fcmServiceAccountFile: Option.Option<string>
  readonly fcmUrl: string
  readonly fcmTokenUrl: Option.Option<string>
  readonly corsOrigins: ReadonlyArray<string>
}

/** Where the push worker runs: inside every node, or only as `chat push-worker` processes. */
export const PUSH_WORKER_MODES = ["node", "external"] as const
export type PushWorkerMode = (typeof PUSH_WORKER_MODES)[number]
/** Who gets no push: members subscribed to the room on a live socket, members with any live socket, nobody. */
export const PUSH_SUPPRESS = ["room", "user", "off"] as const
export type PushSuppress = (typeof PUSH_SUPPRESS)[number]

// The node id goes into NATS subjects, where "." separates tokens and "*"/">" are wildcards.
const NODE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/

const randomSuffix = (): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("")

// HOSTNAME is read through Config (not node:os) so this file stays runtime-free; Docker sets it.
const nodeIdConfig: Config.Config<string> = Config.all([
  Config.option(
    Config.string("CHAT_NODE_ID").pipe(
      Config.validate({ message: "must be 1..64 of A-Z a-z 0-9 _ -", validation: (s) => NODE_ID_RE.test(s) })
    )
  ),
  Config.string("HOSTNAME").pipe(Config.withDefault("node"))
]).pipe(
  Config.map(([explicit, host]) =>
    Option.getOrElse(explicit, () => `${host.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 56) || "node"}-${randomSuffix()}`)
  )
)

const httpUrl = (s: string) => (/^https?:\/\/[^\s]+$/.test(s) && URL.canParse(s) ? undefined : "must be an http(s) URL")
const pemPublicKey = (s: string) => (s.includes("-----BEGIN PUBLIC KEY-----") ? undefined : "must be a PEM SPKI public key (-----BEGIN PUBLIC KEY-----)")

// An origin as browsers send it: scheme://host[:port], no path; or "*" for any.
const isOrigin = (s: string): s is string => s === "*" || /^https?:\/\/[^\s/?#]+$/.test(s)

// Prefixed into subject tokens and bucket/stream names, where NATS allows only these.
const NATS_PREFIX_RE = /^[A-Za-z0-9_-]{0,32}$/

const KIB = 1024
const positiveInt = { min: 1 } as const

/** The table. Order here is the order in the README. */
export const settings: { readonly [K in keyof ChatConfig]: S.Setting<ChatConfig[K]> } = {
  port: S.integer("CHAT_PORT", "HTTP and WebSocket port (0 picks a free port)", 8080, { min: 0, max: 65535 }),
  host: S.text("CHAT_HOST", "bind address", "0.0.0.0"),
  grpcPort: S.optional(
    "CHAT_GRPC_PORT",
    "port for gRPC over HTTP/2 (h2c, Node only; 0 picks a free port); unset: off. Connect and gRPC-Web are always on the main port",
    (s) => (/^\d{1,5}$/.test(s) && Number(s) <= 65535 ? undefined : "must be a port number from 0 to 65535")
  ),
  dataDir: S.text("CHAT_DATA_DIR", "embedded data: PGlite files, generated dev JWT secret and master key", "./data"),
  store: S.oneOf("CHAT_STORE", "message store: `pglite`, `postgres`, `scylla` or `dual`", STORES, "pglite"),
  dualRead: S.oneOf("CHAT_DUAL_READ", "with `CHAT_STORE=dual`: the store reads come from, `postgres` or `scylla` (writes go to PostgreSQL, then ScyllaDB)", DUAL_READS, "postgres"),
  postgresUrl: S.optionalSecret("CHAT_POSTGRES_URL", "PostgreSQL connection URL (required for `postgres` and `dual`)"),
  postgresPool: S.integer("CHAT_POSTGRES_POOL", "PostgreSQL connection pool size", 10, positiveInt),
  commitLingerMs: S.integer("CHAT_COMMIT_LINGER_MS", "PostgreSQL and PGlite: the longest a room's batch waits for other rooms' batches to join its group commit (one statement for all), while batches arrive more often than once per this many ms (at a light load none waits); 0: only batches of the same event-loop turn share a commit. Adds up to this much to an ack under load and saves a statement, a round trip and a transaction per room (docs/architecture.md)", 6, { min: 0, max: 100 }),
  scyllaContactPoints: S.list("CHAT_SCYLLA_CONTACT_POINTS", "ScyllaDB/Cassandra contact points, comma-separated `host[:port]` (required for `scylla` and `dual`)", []),
  scyllaKeyspace: S.text("CHAT_SCYLLA_KEYSPACE", "ScyllaDB keyspace", "chat"),
  scyllaLocalDc: S.text("CHAT_SCYLLA_LOCAL_DC", "ScyllaDB local data center (load balancing)", "datacenter1"),
  scyllaConsistency: S.oneOf("CHAT_SCYLLA_CONSISTENCY", "ScyllaDB consistency level for reads and writes", CONSISTENCIES, "LOCAL_QUORUM"),
  natsUrl: S.optionalSecret("CHAT_NATS_URL", "NATS server(s), comma-separated; set means clustered mode (secret: may carry credentials)"),
  natsPrefix: S.text("CHAT_NATS_PREFIX", "clustered mode: namespace for every NATS subject, KV bucket and stream this cluster uses, so several clusters can share one NATS account (A-Z a-z 0-9 _ -, up to 32; empty: the unprefixed names `chat.…`, `chat_nodes`, `CHAT_PUSH`). With `blue`: `blue.chat.room.<room>.send`, `blue_chat_nodes`, `blue_CHAT_PUSH`; internal services then use the prefixed public subjects too", ""),
  redisUrl: S.optionalSecret("CHAT_REDIS_URL", "Redis URL for shared presence, rate limits and caches (secret: may carry a password)"),
  jwtSecret: S.optionalSecret("CHAT_JWT_SECRET", "HS256 shared secret for client tokens", "generated into the data dir when no JWKS/PEM key is set"),
  jwksUrl: S.optional("CHAT_JWKS_URL", "JWKS URL for RS256/ES256/EdDSA tokens", httpUrl),
  jwtPublicKey: S.optional("CHAT_JWT_PUBLIC_KEY", "PEM (SPKI) public key for asymmetric tokens; `\\n` escapes are accepted", pemPublicKey),
  jwtAlgorithms: S.list("CHAT_JWT_ALGORITHMS", "algorithms accepted with CHAT_JWT_PUBLIC_KEY, comma-separated", ["RS256"], isAsymmetricAlgorithm),
  jwtIssuer: S.optional("CHAT_JWT_ISSUER", "required `iss` claim, when set"),
  jwtAudience: S.optional("CHAT_JWT_AUDIENCE", "required `aud` claim, when set"),
  masterKey: S.optionalSecret("CHAT_MASTER_KEY", "32-byte key (64 hex chars or base64) wrapping the per-room data keys", "generated into the data dir"),
  masterKeysOld: S.secretList("CHAT_MASTER_KEYS_OLD", "previous master keys, comma-separated, still accepted for unwrapping during rotation"),
  serviceKeys: S.secretList("CHAT_SERVICE_KEYS", "API keys for the server API (`/v1/server/*`, `chat.v1.ServerService`), comma-separated (long random strings); unset: that API is off"),
  nodeId: S.computed("CHAT_NODE_ID", "this node's name in a cluster (A-Z a-z 0-9 _ -)", "host name plus a random suffix", nodeIdConfig),
  logLevel: S.logLevel("CHAT_LOG_LEVEL", "minimum log level: `trace`, `debug`, `info`, `warning`, `error`, `fatal`, `none`", LogLevel.Info),
  maxBodyBytes: S.integer("CHAT_MAX_BODY_BYTES", "largest message body, UTF-8 bytes", 16 * KIB, positiveInt),
  maxFrameBytes: S.integer("CHAT_MAX_FRAME_BYTES", "hard limit per WebSocket frame; above it the socket is closed with 1008", 64 * KIB, positiveInt),
  replayCap: S.integer("CHAT_REPLAY_CAP", "most events replayed on `subscribe` with `since` before answering `truncated`", 1000, positiveInt),
  maxSubscriptions: S.integer("CHAT_MAX_SUBSCRIPTIONS", "most rooms one socket may subscribe to", 100, positiveInt),
  maxSocketsPerUser: S.integer("CHAT_MAX_SOCKETS_PER_USER", "most open WebSockets per user (per node; cluster-wide when `CHAT_REDIS_URL` is set); one more is refused with HTTP 429 before the upgrade", 64, positiveInt),
  typingIntervalMs: S.integer("CHAT_TYPING_INTERVAL_MS", "a user's `typing` frames are relayed at most once per room per this many ms; the rest are dropped", 1000, { min: 0 }),
  sendRate: S.positive("CHAT_SEND_RATE", "per-user sends per second (token bucket refill rate)", 20),
  sendBurst: S.integer("CHAT_SEND_BURST", "per-user send burst (token bucket size)", 50, positiveInt),
  wsMaxBufferedBytes: S.integer("CHAT_WS_MAX_BUFFERED_BYTES", "per-socket outbound buffer limit; a slower client is disconnected", 1024 * KIB, positiveInt),
  mailboxCapacity: S.integer("CHAT_MAILBOX_CAPACITY", "room actor mailbox size; a full mailbox fails fast instead of queueing", 1024, positiveInt),
  maxBatch: S.integer("CHAT_MAX_BATCH", "most operations per group commit", 256, positiveInt),
  actorIdleMs: S.integer("CHAT_ACTOR_IDLE_MS", "idle time in ms before a room actor is passivated", 60_000, positiveInt),
  commandTimeoutMs: S.integer("CHAT_COMMAND_TIMEOUT_MS", "time in ms a room command may take before it is answered `unavailable` (the room had not taken it: not stored) or `timeout` (its commit had not answered: outcome unknown)", 10_000, positiveInt),
  storeTimeoutMs: S.integer("CHAT_STORE_TIMEOUT_MS", "time in ms one database call may take; a call that hangs longer fails (a commit with `timeout`: its outcome is unknown) and counts toward opening the database's circuit; keep it below `CHAT_COMMAND_TIMEOUT_MS`", 3_000, positiveInt),
  shutdownGraceMs: S.integer("CHAT_SHUTDOWN_GRACE_MS", "time in ms to drain sockets and actors on shutdown", 10_000, positiveInt),
  shards: S.integer("CHAT_SHARDS", "clustered mode: virtual shards rooms are spread over; a cluster-wide constant (every node the same)", 256, { min: 1, max: 65536 }),
  leaseMs: S.integer("CHAT_LEASE_MS", "clustered mode: shard lease and node heartbeat lifetime in ms; a dead node's rooms move after this", 10_000, { min: 1000 }),
  natsReplicas: S.integer("CHAT_NATS_REPLICAS", "clustered mode: replicas of the JetStream buckets and push stream (1, 3 or 5; at most the NATS cluster size)", 1, { min: 1, max: 5 }),
  pushWorker: S.oneOf("CHAT_PUSH_WORKER", "push delivery: `node` (each node runs a worker on the store's queue) or `external` (only `chat push-worker` processes do)", PUSH_WORKER_MODES, "node"),
  pushSuppress: S.oneOf("CHAT_PUSH_SUPPRESS", "no push to a member who is `room`: subscribed to the room on a live socket, `user`: on any live socket, `off`: always push", PUSH_SUPPRESS, "room"),
  pushSettleMs: S.integer("CHAT_PUSH_SETTLE_MS", "push coalescing window in ms: a room's messages this close together become one notification per device", 1500, { min: 0 }),
  pushPollMs: S.integer("CHAT_PUSH_POLL_MS", "push worker: ms between queue polls when it is idle", 250, positiveInt),
  pushLeaseMs: S.integer("CHAT_PUSH_LEASE_MS", "push worker: ms a claimed intent is held before another worker may take it (a crashed worker's intents come back after this)", 30_000, { min: 1000 }),
  pushMaxAttempts: S.integer("CHAT_PUSH_MAX_ATTEMPTS", "push worker: deliveries of an intent before a failing notification is given up", 10, positiveInt),
  pushRetryBaseMs: S.integer("CHAT_PUSH_RETRY_BASE_MS", "push worker: first retry delay in ms after a 429/5xx (doubles per attempt; Retry-After is honoured when longer)", 1000, positiveInt),
  pushRetryMaxMs: S.integer("CHAT_PUSH_RETRY_MAX_MS", "push worker: longest retry delay in ms", 300_000, positiveInt),
  pushPreviewChars: S.integer("CHAT_PUSH_PREVIEW_CHARS", "put the first N characters of the message text in notifications (0: room, sender and seq only; see docs/push.md)", 0, { min: 0, max: 1000 }),
  pushTtlSeconds: S.integer("CHAT_PUSH_TTL_SECONDS", "how long a provider keeps an undelivered notification, in seconds", 86_400, { min: 0 }),
  vapidPublicKey: S.optional("CHAT_VAPID_PUBLIC_KEY", "Web Push VAPID public key (URL-safe base64); with CHAT_VAPID_PRIVATE_KEY. Unset: a key pair is generated into the data dir"),
  vapidPrivateKey: S.optionalSecret("CHAT_VAPID_PRIVATE_KEY", "Web Push VAPID private key (URL-safe base64)", "generated into the data dir"),
  vapidSubject: S.text("CHAT_VAPID_SUBJECT", "Web Push VAPID contact (`mailto:` or `https:` URL) given to push services", "mailto:push@localhost"),
  apnsKeyFile: S.optional("CHAT_APNS_KEY_FILE", "APNs token auth key (.p8 file path); APNs is on when this, CHAT_APNS_KEY_ID, CHAT_APNS_TEAM_ID and CHAT_APNS_TOPIC are set"),
  apnsKeyId: S.optional("CHAT_APNS_KEY_ID", "APNs key id (the JWT `kid`)"),
  apnsTeamId: S.optional("CHAT_APNS_TEAM_ID", "APNs team id (the JWT `iss`)"),
  apnsTopic: S.optional("CHAT_APNS_TOPIC", "APNs topic: the iOS app's bundle id"),
  apnsUrl: S.text("CHAT_APNS_URL", "APNs endpoint (`https://api.sandbox.push.apple.com` for development builds)", "https://api.push.apple.com"),
  fcmServiceAccountFile: S.optional("CHAT_FCM_SERVICE_ACCOUNT_FILE", "FCM service account key (JSON file path); FCM is on when set"),
  fcmUrl: S.text("CHAT_FCM_URL", "FCM HTTP v1 endpoint", "https://fcm.googleapis.com"),
  fcmTokenUrl: S.optional("CHAT_FCM_TOKEN_URL", "OAuth2 token endpoint for FCM (default: the key file's token_uri)", httpUrl),
  corsOrigins: S.list("CHAT_CORS_ORIGINS", "browser origins allowed to call the REST API from another origin, comma-separated (`https://app.example.com`); none by default, `*` allows any. Preflight requests are answered before authentication", [], isOrigin)
}

/** Rules that span variables; each failure names the variable to set. */
export const checkCombination = (c: ChatConfig): Either.Either<ChatConfig, ConfigError.ConfigError> => {
  const needsPostgres = c.store === "postgres" || c.store === "dual"
  const needsScylla = c.store === "scylla" || c.store === "dual"
  if (needsPostgres && Option.isNone(c.postgresUrl)) {
    return Either.left(ConfigError.MissingData(["CHAT_POSTGRES_URL"], `required when CHAT_STORE=${c.store}`))
  }
  if (needsScylla && c.scyllaContactPoints.length === 0) {
    return Either.left(ConfigError.MissingData(["CHAT_SCYLLA_CONTACT_POINTS"], `required when CHAT_STORE=${c.store}`))
  }
  if (Option.isSome(c.vapidPublicKey) !== Option.isSome(c.vapidPrivateKey)) {
    return Either.left(ConfigError.MissingData(["CHAT_VAPID_PRIVATE_KEY"], "set both CHAT_VAPID_PUBLIC_KEY and CHAT_VAPID_PRIVATE_KEY, or neither"))
  }
  const apns = [c.apnsKeyFile, c.apnsKeyId, c.apnsTeamId, c.apnsTopic]
  if (apns.some(Option.isSome) && !apns.every(Option.isSome)) {
    return Either.left(ConfigError.MissingData(["CHAT_APNS_KEY_FILE"], "APNs needs CHAT_APNS_KEY_FILE, CHAT_APNS_KEY_ID, CHAT_APNS_TEAM_ID and CHAT_APNS_TOPIC together"))
  }
  // A node on an embedded store would take shards whose rooms the other nodes cannot read.
  if (Option.isSome(c.natsUrl) && c.store === "pglite") {
    return Either.left(
      ConfigError.InvalidData(
        ["CHAT_STORE"],
        "CHAT_NATS_URL is set (clustered mode) but CHAT_STORE is pglite, which one node cannot share: set CHAT_STORE=postgres|scylla|dual with its URL on every node, or unset CHAT_NATS_URL"
      )
    )
  }
  if (!NATS_PREFIX_RE.test(c.natsPrefix)) {
    return Either.left(ConfigError.InvalidData(["CHAT_NATS_PREFIX"], "must be up to 32 of A-Z a-z 0-9 _ -"))
  }
  // One asymmetric key source: with both, which one signs a given token would be ambiguous.
  if (Option.isSome(c.jwksUrl) && Option.isSome(c.jwtPublicKey)) {
    return Either.left(ConfigError.InvalidData(["CHAT_JWT_PUBLIC_KEY"], "set either CHAT_JWKS_URL or CHAT_JWT_PUBLIC_KEY, not both"))
  }
  return Either.right(c)
}

const configs = Object.fromEntries(Object.entries(settings).map(([k, s]) => [k, s.config])) as {
  readonly [K in keyof ChatConfig]: Config.Config<ChatConfig[K]>
}

export const chatConfig: Config.Config<ChatConfig> = Config.all(configs).pipe(Config.mapOrFail(checkCombination))

/** Reads the configuration from an explicit map instead of the process environment. */
export const loadChatConfig = (env: Readonly<Record<string, string>>): Effect.Effect<ChatConfig, ConfigError.ConfigError> =>
  Effect.withConfigProvider(chatConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))

export class ChatConfigTag extends Context.Tag("chat/ChatConfig")<ChatConfigTag, ChatConfig>() {
  /** From the environment (the current ConfigProvider); a bad value fails startup naming the variable. */
  static readonly layer: Layer.Layer<ChatConfigTag, ConfigError.ConfigError> = Layer.effect(ChatConfigTag, chatConfig)

  /** For tests: the defaults plus `overrides`, never the process environment. */
  static readonly layerFrom = (overrides: Partial<ChatConfig> = {}): Layer.Layer<ChatConfigTag, ConfigError.ConfigError> =>
    Layer.effect(
      ChatConfigTag,
      loadChatConfig({}).pipe(Effect.flatMap((defaults) => checkCombination({ ...defaults, ...overrides })))
    )
}
