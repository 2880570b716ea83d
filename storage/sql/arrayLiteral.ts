/**
 * PostgreSQL array literals (`{a,b,NULL}`) for the one-statement commit's parameters: integers,
 * UUIDs and ISO timestamps unquoted, user-given strings quoted. Written here because the drivers' own array serializers
 * quote every element and run two regex replaces over it through a closure per element: for
 * the one-statement commit's fourteen arrays that was about 2 KB of garbage per message (V8's
 * sampling heap profiler at 1,000 msg/s) and about 6 µs of CPU (an earlier perf profile;
 * bench/analysis.md keeps only the latest). Both drivers pass a parameter that is not an array through
 * unchanged (postgres.js `arraySerializer` and PGlite's alike), and PostgreSQL parses the
 * literal against the parameter's declared type (`$1::uuid[]`), so a malformed element is
 * refused by the database, never misread. User-given strings (sender, body, clientMsgId)
 * are quoted and escaped as the drivers do it (`withQuoted`), so they read back as given.
 *
 * A column is a plain string of elements, appended to one at a time, then braced: no object
 * per column.
 */

/** Characters an unquoted UUID or ISO-8601 timestamp element may hold: nothing that delimits an array element. */
const PLAIN = /^[0-9A-Za-z:.+-]+$/

/** `list` (elements so far, comma-separated, no braces) with an integer appended, or NULL for null. */
export const withInt = (list: string, n: number | null): string => {
  if (n !== null && !Number.isSafeInteger(n)) throw new TypeError(`not an integer for an array literal: ${n}`)
  const element = n === null ? "NULL" : String(n)
  return list.length === 0 ? element : list + "," + element
}

/**
 * `list` with a UUID or an ISO timestamp appended; anything that could end or split an element,
 * or read as NULL, is refused.
 */
export const withPlain = (list: string, s: string): string => {
  if (!PLAIN.test(s) || (s.length === 4 && s.toUpperCase() === "NULL")) throw new TypeError("not a plain UUID or timestamp for an array literal")
  return list.length === 0 ? s : list + "," + s
}

const BACKSLASH = /\\/g
const QUOTE = /"/g

/**
 * `list` with any string appended as a quoted element, or NULL for null: the element the
 * drivers write (a double-quoted string with backslash and double quote escaped by a
 * backslash), so user-given text (sender, body, clientMsgId) is read back as given. Most
 * such strings (base64 ciphertexts, ids) hold neither character and are quoted as they are.
 */
export const withQuoted = (list: string, s: string | null): string => {
  const element = s === null ? "NULL" : '"' + (s.includes("\\") || s.includes('"') ? s.replace(BACKSLASH, "\\\\").replace(QUOTE, '\\"') : s) + '"'
  return list.length === 0 ? element : list + "," + element
}

/** The literal of a list built with the three above (`{}` when empty). */
export const arrayLiteral = (list: string): string => "{" + list + "}"
