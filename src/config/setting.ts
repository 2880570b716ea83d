/**
 * One row of the configuration table. Each constructor builds both halves of a row from the
 * same arguments: the Effect `Config` that reads the variable and the text the README shows,
 * so the documented default is the default that runs.
 */
import { Config, ConfigError, Either, LogLevel, Option, Redacted } from "effect"

export interface Setting<A> {
  /** The environment variable, `CHAT_*`. */
  readonly env: string
  readonly description: string
  /** The default as the README shows it; empty when unset means "off" or "absent". */
  readonly defaultDoc: string
  readonly secret: boolean
  readonly config: Config.Config<A>
}

const row = <A>(
  env: string,
  description: string,
  defaultDoc: string,
  secret: boolean,
  config: Config.Config<A>
): Setting<A> => ({ env, description, defaultDoc, secret, config: Config.withDescription(config, description) })

/** An integer in [min, max] (inclusive) with a default. */
export const integer = (
  env: string,
  description: string,
  def: number,
  range: { readonly min: number; readonly max?: number }
): Setting<number> => {
  const max = range.max ?? Number.MAX_SAFE_INTEGER
  const message = range.max === undefined ? `must be an integer >= ${range.min}` : `must be an integer from ${range.min} to ${max}`
  return row(
    env,
    description,
    String(def),
    false,
    Config.integer(env).pipe(
      Config.validate({ message, validation: (n) => n >= range.min && n <= max }),
      Config.withDefault(def)
    )
  )
}

/** A positive number (fractions allowed) with a default. */
export const positive = (env: string, description: string, def: number): Setting<number> =>
  row(
    env,
    description,
    String(def),
    false,
    Config.number(env).pipe(
      Config.validate({ message: "must be a number > 0", validation: (n) => Number.isFinite(n) && n > 0 }),
      Config.withDefault(def)
    )
  )

/** A non-empty string with a default. */
export const text = (env: string, description: string, def: string): Setting<string> =>
  row(env, description, def, false, Config.nonEmptyString(env).pipe(Config.withDefault(def)))

/** One of a fixed set of words, with a default. */
export const oneOf = <const L extends ReadonlyArray<string>>(
  env: string,
  description: string,
  literals: L,
  def: L[number]
): Setting<L[number]> =>
  row(env, description, def, false, Config.literal(...literals)(env).pipe(Config.withDefault(def)))

// Effect's own Config.logLevel knows only its labels (WARN, OFF); people also write
// "warning" and "none", so both spellings are accepted, in any case.
const LOG_LEVELS: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
  off: LogLevel.None
}

export const logLevel = (env: string, description: string, def: LogLevel.LogLevel): Setting<LogLevel.LogLevel> =>
  row(
    env,
    description,
    def.label.toLowerCase(),
    false,
    Config.string(env).pipe(
      Config.mapOrFail((s) => {
        const level = LOG_LEVELS[s.trim().toLowerCase()]
        return level !== undefined
          ? Either.right(level)
          : Either.left(ConfigError.InvalidData([], `expected one of ${Object.keys(LOG_LEVELS).join(", ")}`))
      }),
      Config.withDefault(def)
    )
  )

// An empty value counts as unset: container tooling often exports `VAR=` for "not configured".
const nonEmptyOption = <A>(self: Config.Config<A>, isEmpty: (a: A) => boolean): Config.Config<Option.Option<A>> =>
  Config.option(self).pipe(Config.map(Option.filter((a) => !isEmpty(a))))

/** An optional string, checked by `check` (returns an error message or undefined). */
export const optional = (
  env: string,
  description: string,
  check?: (value: string) => string | undefined
): Setting<Option.Option<string>> => {
  const base = Config.string(env).pipe(
    Config.mapOrFail((s) => {
      const problem = s === "" ? undefined : check?.(s)
      return problem === undefined ? Either.right(s) : Either.left(invalid(problem))
    })
  )
  return row(env, description, "", false, nonEmptyOption(base, (s) => s === ""))
}

/** An optional secret; `defaultDoc` says what happens when it is unset. */
export const optionalSecret = (
  env: string,
  description: string,
  defaultDoc = ""
): Setting<Option.Option<Redacted.Redacted<string>>> =>
  row(env, description, defaultDoc, true, nonEmptyOption(Config.redacted(env), (r) => Redacted.value(r) === ""))

/** A comma-separated list (items trimmed, empty items dropped), each item checked. */
export const list = <A extends string = string>(
  env: string,
  description: string,
  def: ReadonlyArray<A>,
  check?: (item: string) => item is A
): Setting<ReadonlyArray<A>> =>
  row(
    env,
    description,
    def.join(","),
    false,
    Config.string(env).pipe(
      Config.mapOrFail((s) => {
        // Without a check every string is acceptable, i.e. A is string.
        const accepts = check ?? ((_: string): _ is A => true)
        const items = splitList(s)
        const bad = items.find((item) => !accepts(item))
        return bad === undefined ? Either.right(items.filter(accepts)) : Either.left(invalid(`unsupported item ${JSON.stringify(bad)}`))
      }),
      Config.withDefault(def)
    )
  )

/** A comma-separated list of secrets. A bad item is never echoed back. */
export const secretList = (env: string, description: string): Setting<ReadonlyArray<Redacted.Redacted<string>>> =>
  row(
    env,
    description,
    "",
    true,
    Config.redacted(env).pipe(
      Config.map((r) => splitList(Redacted.value(r)).map((s) => Redacted.make(s))),
      Config.withDefault([] as ReadonlyArray<Redacted.Redacted<string>>)
    )
  )

/**
 * A setting whose default is computed when the config is read (not a constant, so it cannot
 * go through `Config.withDefault`); `defaultDoc` describes it.
 */
export const computed = <A>(
  env: string,
  description: string,
  defaultDoc: string,
  config: Config.Config<A>
): Setting<A> => row(env, description, defaultDoc, false, config)

const splitList = (s: string): Array<string> =>
  s
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")

// mapOrFail prefixes the error with the variable's path, so the message names the variable.
const invalid = (message: string) => ConfigError.InvalidData([], message)
