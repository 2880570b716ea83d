/**
 * Byte order of the UTF-8 encodings: the order PostgreSQL's "C" collation gives the user id,
 * emoji and token columns. JavaScript's `<` compares UTF-16 code units, which disagrees for
 * characters above U+FFFF, so every store sorts with this instead.
 */
const utf8 = new TextEncoder()

export const byteOrder = (a: string, b: string): number => {
  if (a === b) return 0
  const x = utf8.encode(a)
  const y = utf8.encode(b)
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i]
  return x.length - y.length
}
