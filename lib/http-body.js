'use strict'
// Small helpers the Express and Fastify JSON body parsers share: the
// byte-level forms of what their string-based anchors do to a body.

/** The body without a leading UTF-8 byte order mark (as a decoder drops it). */
function dropBom(buf) {
  return buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? buf.subarray(3) : buf
}

// RFC 8259 whitespace: space, tab, line feed, carriage return.
const isWhitespace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/**
 * The first character that is not JSON whitespace, or `undefined`: of a
 * string (a UTF-16 unit), or of UTF-8 bytes (the character for an ASCII
 * byte; for a non-ASCII one, some other string that is neither `{` nor `[`).
 */
function firstNonWhitespace(body) {
  if (typeof body === 'string') {
    for (let i = 0; i < body.length; i++) {
      const c = body.charCodeAt(i)
      if (!isWhitespace(c)) return body[i]
    }
    return undefined
  }
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (!isWhitespace(c)) return c < 0x80 ? String.fromCharCode(c) : '\ufffd'
  }
  return undefined
}

module.exports = { dropBom, firstNonWhitespace }
