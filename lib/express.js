'use strict'
// `@nodeperf/native/express`: `json()`, a drop-in for `express.json()`
// (body-parser 2's JSON parser) that parses large bodies on the pool.
//
// Everything around the parse is body-parser's own behaviour, built from
// the same packages body-parser uses (type-is, content-type, raw-body,
// http-errors, on-finished, bytes), so which requests are read, the limit,
// the charset check, inflation and every error (status, type, expose,
// body) are the same. What differs is where the text becomes a value: a
// UTF-8 body is handed to `pool.parseJson` as the Buffer raw-body read
// (`offload: 'auto'` parses up to 1 MiB at once on this thread, larger
// ones on the pool while the loop keeps serving), not decoded to one large
// string and given to `JSON.parse` in one blocking call.
// docs/http.md says what is the same and what is not.

const zlib = require('node:zlib')
const { pool } = require('./pool.js')
const { underPressure } = require('./pressure.js')
const { invalidArgType, invalidArgValue, outOfRange } = require('./errors.js')
const { validateOptions, validateKeys, offloadOption } = require('./validate.js')
const { dropBom, firstNonWhitespace } = require('./http-body.js')

// body-parser's defaults.
const DEFAULT_LIMIT = 102400
const DEFAULT_TYPE = 'application/json'
const OPTIONS = ['limit', 'strict', 'reviver', 'type', 'inflate', 'offload']

// Loaded on first use, so `require('@nodeperf/native')` never loads them.
let deps
function load() {
  deps ??= {
    bytes: require('bytes'),
    contentType: require('content-type'),
    createError: require('http-errors'),
    getBody: require('raw-body'),
    onFinished: require('on-finished'),
    typeis: require('type-is'),
  }
  return deps
}

function jsonOptions(options) {
  validateOptions(options)
  const o = options ?? {}
  validateKeys(o, 'options', OPTIONS, `the fields are ${OPTIONS.join(', ')}`)
  const { bytes, typeis } = load()
  let limit = DEFAULT_LIMIT
  if (o.limit !== undefined && o.limit !== null) {
    if (typeof o.limit === 'string') {
      limit = bytes.parse(o.limit)
      if (limit === null || !(limit >= 0)) {
        throw invalidArgValue('options.limit', o.limit, "must be a byte count such as '100kb' or '20mb' (the bytes package's units)")
      }
    } else if (typeof o.limit === 'number') {
      if (!(o.limit >= 0 && o.limit <= Number.MAX_SAFE_INTEGER)) {
        throw outOfRange('options.limit', `>= 0 and <= ${Number.MAX_SAFE_INTEGER}`, o.limit)
      }
      limit = o.limit
    } else {
      throw invalidArgType('options.limit', 'of type number or string', o.limit)
    }
  }
  for (const name of ['strict', 'inflate']) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') throw invalidArgType(`options.${name}`, 'of type boolean', o[name])
  }
  if (o.reviver !== undefined && typeof o.reviver !== 'function') throw invalidArgType('options.reviver', 'of type function', o.reviver)
  let shouldParse
  const type = o.type ?? DEFAULT_TYPE
  if (typeof type === 'function') {
    shouldParse = type
  } else {
    const types = Array.isArray(type) ? type : [type]
    if (types.length === 0 || types.some((t) => typeof t !== 'string' || t === '')) {
      throw invalidArgType('options.type', 'a non-empty string, a non-empty array of them, or a function', type)
    }
    shouldParse = (req) => Boolean(typeis(req, types))
  }
  return {
    limit,
    strict: o.strict !== false,
    reviver: o.reviver,
    inflate: o.inflate !== false,
    shouldParse,
    offload: offloadOption(o),
  }
}

/**
 * A drop-in for `express.json(options)` (body-parser 2): the same requests
 * parsed, the same `req.body`, the same errors; bodies over 1 MiB (with
 * `offload: 'auto'`) are parsed on the pool, so the loop keeps serving.
 *
 * @param {{ limit?: number | string, strict?: boolean, reviver?: (key: string, value: unknown) => unknown,
 *   type?: string | string[] | ((req: import('node:http').IncomingMessage) => boolean), inflate?: boolean,
 *   offload?: 'auto' | 'always' | 'never' }} [options]
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: (err?: unknown) => void) => void}
 */
function json(options) {
  const o = jsonOptions(options)
  const { contentType, createError, getBody, onFinished, typeis } = load()

  return function nodeperfJsonParser(req, res, next) {
    if (onFinished.isFinished(req)) {
      next()
      return
    }
    if (!('body' in req)) req.body = undefined
    if (!typeis.hasBody(req)) {
      next()
      return
    }
    if (!o.shouldParse(req)) {
      next()
      return
    }
    // As body-parser: a charset content-type cannot parse throws here.
    const header = req.headers['content-type']
    const encoding = (header ? contentType.parse(header).parameters.charset?.toLowerCase() : undefined) || 'utf-8'
    // RFC 7159 section 8.1, as body-parser checks it.
    if (encoding.slice(0, 4) !== 'utf-') {
      next(createError(415, 'unsupported charset "' + encoding.toUpperCase() + '"', { charset: encoding, type: 'charset.unsupported' }))
      return
    }

    let stream, length
    try {
      const contentEncoding = (req.headers['content-encoding'] || 'identity').toLowerCase()
      if (!o.inflate && contentEncoding !== 'identity') {
        throw createError(415, 'content encoding unsupported', { encoding: contentEncoding, type: 'encoding.unsupported' })
      }
      if (contentEncoding === 'identity') {
        length = req.headers['content-length']
        stream = req
      } else {
        stream = decompressionStream(contentEncoding, createError)
        req.pipe(stream)
      }
    } catch (err) {
      next(err)
      return
    }

    // UTF-8 is read as bytes (parsed from the Buffer); raw-body decodes the
    // other UTF charsets, as it does for body-parser.
    const asBytes = encoding === 'utf-8'
    getBody(stream, { length, encoding: asBytes ? null : encoding, limit: o.limit }, (error, body) => {
      if (error) {
        let e
        if (error.type === 'encoding.unsupported') {
          e = createError(415, 'unsupported charset "' + encoding.toUpperCase() + '"', { charset: encoding.toLowerCase(), type: 'charset.unsupported' })
        } else {
          e = createError(400, error)
        }
        if (stream !== req) {
          req.unpipe()
          stream.destroy()
        }
        dump(req, onFinished, () => next(createError(400, e)))
        return
      }
      if (stream !== req) {
        req.unpipe(stream)
        stream.on('error', () => {})
        stream.destroy()
        req.resume()
      }
      parseBody(asBytes ? dropBom(body) : body, o, createError).then(
        (value) => {
          req.body = value
          next()
        },
        next,
      )
    })
  }
}

/**
 * The body's value, or a rejection with body-parser's 400
 * `entity.parse.failed` error. `body` is a Buffer of UTF-8 (BOM dropped, as
 * body-parser's decoder drops it) or a decoded string.
 */
function parseBody(body, o, createError) {
  const failed = (err) =>
    createError(400, plainSyntaxError(err), { body: typeof body === 'string' ? body : body.toString('utf8'), type: 'entity.parse.failed' })
  // An empty body is `{}`, strict or not (body-parser's special case).
  if (body.length === 0) return Promise.resolve({})
  if (o.strict) {
    const first = firstNonWhitespace(body)
    if (first !== '{' && first !== '[') {
      const text = typeof body === 'string' ? body : body.toString('utf8')
      return Promise.reject(failed(strictSyntaxError(text, firstNonWhitespace(text))))
    }
  }
  if (o.reviver !== undefined) {
    // A reviver runs on this thread over the whole value: parsed here, as
    // body-parser does, so it sees exactly the arguments JSON.parse gives it.
    try {
      const text = typeof body === 'string' ? body : body.toString('utf8')
      return Promise.resolve(JSON.parse(text, o.reviver))
    } catch (err) {
      return Promise.reject(err instanceof SyntaxError ? failed(err) : err)
    }
  }
  return pool.parseJson(body, { offload: o.offload }).catch((err) => {
    throw err instanceof SyntaxError ? failed(err) : err
  })
}

/**
 * body-parser keeps only `message` and `stack` of a JSON SyntaxError (and
 * so does this: the message names the position, the pool's `code` and
 * `position` fields go).
 */
function plainSyntaxError(err) {
  for (const key of Object.getOwnPropertyNames(err)) {
    if (key !== 'stack' && key !== 'message') delete err[key]
  }
  return err
}

/**
 * body-parser's strict-mode error: JSON.parse's own message for the first
 * character, found by parsing the text with everything from that character
 * on replaced by '#', then the '#'s put back.
 */
function strictSyntaxError(text, char) {
  const index = char === undefined ? -1 : text.indexOf(char)
  const partial = index !== -1 ? text.substring(0, index) + '#'.repeat(text.length - index) : ''
  try {
    JSON.parse(partial)
    return new SyntaxError('strict violation')
  } catch (e) {
    const message = e.message.replace(/#+/g, (placeholder) => text.substring(index, index + placeholder.length))
    e.stack = e.stack.replace(e.message, message)
    e.message = message
    return e
  }
}

/** body-parser's decompression streams, by Content-Encoding. */
function decompressionStream(encoding, createError) {
  switch (encoding) {
    case 'deflate':
      return zlib.createInflate()
    case 'gzip':
      return zlib.createGunzip()
    case 'br':
      return zlib.createBrotliDecompress()
    case 'zstd':
      if (typeof zlib.createZstdDecompress === 'function') return zlib.createZstdDecompress()
  }
  throw createError(415, 'unsupported content encoding "' + encoding + '"', { encoding, type: 'encoding.unsupported' })
}

/** Reads off the rest of a request, then calls back. */
function dump(req, onFinished, callback) {
  if (onFinished.isFinished(req)) {
    callback(null)
  } else {
    onFinished(req, callback)
    req.resume()
  }
}

module.exports = { json, underPressure }
