/**
 * A bound on JSON nesting, checked on the text before it is parsed or decoded. JSON.parse
 * copes with deep nesting, but what runs after it (Schema decoding, formatting an error
 * that quotes the value, JSON.stringify) recurses, and a value a few thousand levels deep
 * overflows the stack. No frame or body of this protocol nests more than a few levels.
 *
 * Hand-written (a linear scan, no allocation): no JSON library offers a depth limit on
 * JSON.parse, and a streaming parser would cost far more per frame.
 */
export const MAX_JSON_DEPTH = 32

/** True when `text`, read as JSON, opens more than `max` arrays/objects at once. */
export const jsonTooDeep = (text: string, max: number = MAX_JSON_DEPTH): boolean => {
  // Most frames are one flat object. With no `[` and at most one `{` anywhere in the text,
  // nothing can nest, and indexOf's scans are several times faster than the loop below,
  // which reads every character (1.3 of a send frame's 3.6 µs to decode, micro-measured).
  if (max >= 1 && text.indexOf("[") === -1) {
    const first = text.indexOf("{")
    if (first === -1 || text.indexOf("{", first + 1) === -1) return false
  }
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--
    }
  }
  return false
}

export const tooDeepMessage = `JSON nested deeper than ${MAX_JSON_DEPTH} levels`
