'use strict'
// `@nodeperf/native/fastify`: `json`, a Fastify plugin that replaces the
// default `application/json` content-type parser with one that parses large
// bodies on the pool, and `underPressure`, the load-shedding plugin.
//
// Fastify still reads the body (its bodyLimit, its 413 and Content-Length
// checks: the parser is registered with `parseAs: 'buffer'`); this parser
// answers exactly as Fastify's default one does: an empty body is
// FST_ERR_CTP_EMPTY_JSON_BODY, anything JSON.parse rejects is
// FST_ERR_CTP_INVALID_JSON_BODY, and the prototype-poisoning protection of
// secure-json-parse applies with the instance's `onProtoPoisoning` and
// `onConstructorPoisoning` ('error' by default: a body with a `__proto__`
// key, or a `constructor` object with a `prototype` key, is rejected).
// Fastify is not required: the instance is the one the plugin is given.

const { pool } = require('./pool.js')
const { underPressure } = require('./pressure.js')
const { invalidArgType, invalidArgValue, isRevokedProxy } = require('./errors.js')
const { validateFunction, validateOptions, validateKeys, offloadOption } = require('./validate.js')
const { dropBom } = require('./http-body.js')

const OPTIONS = ['offload', 'onProtoPoisoning', 'onConstructorPoisoning']
const ACTIONS = ['error', 'remove', 'ignore']

/**
 * Errors shaped as Fastify's own (@fastify/error): `name` 'FastifyError',
 * `code`, `statusCode`, the same message, and `instanceof` Fastify's
 * `errorCodes.<code>` (which checks these registered symbols).
 */
function fastifyErrorClass(code, message, statusCode) {
  function FastifyError() {
    this.code = code
    this.name = 'FastifyError'
    this.statusCode = statusCode
    this.message = message
    Error.captureStackTrace(this, FastifyError)
  }
  FastifyError.prototype = Object.create(Error.prototype, {
    constructor: { value: FastifyError, writable: true, configurable: true },
    [Symbol.for('fastify-error-generic')]: { value: true },
    [Symbol.for(`fastify-error ${code}`)]: { value: true },
  })
  FastifyError.prototype.toString = function toString() {
    return `${this.name} [${this.code}]: ${this.message}`
  }
  return FastifyError
}
const EmptyJsonBody = fastifyErrorClass('FST_ERR_CTP_EMPTY_JSON_BODY', "Body cannot be empty when content-type is set to 'application/json'", 400)
const InvalidJsonBody = fastifyErrorClass('FST_ERR_CTP_INVALID_JSON_BODY', "Body is not valid JSON but content-type is set to 'application/json'", 400)

// secure-json-parse's tests for a key that may poison a prototype (escaped
// or not, then a colon). Run on the body's bytes read as latin1: every
// character of the patterns is ASCII, which UTF-8 and latin1 encode alike.
const SUSPECT_PROTO = /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/
const SUSPECT_CONSTRUCTOR = /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/

/**
 * Whether the body may hold a key the filter must look at. A fast byte
 * search first (a key spelled with escapes needs `\u00`), then the regular
 * expressions. A key that is really there always matches; a false match
 * only costs the walk, which then finds nothing.
 */
function suspect(buf, proto, ctor) {
  const escaped = buf.indexOf('\\u00') !== -1
  const mayProto = proto && (escaped || buf.indexOf('__proto__') !== -1)
  const mayCtor = ctor && (escaped || buf.indexOf('constructor') !== -1)
  if (!mayProto && !mayCtor) return false
  const text = buf.latin1Slice(0, buf.length)
  return (mayProto && SUSPECT_PROTO.test(text)) || (mayCtor && SUSPECT_CONSTRUCTOR.test(text))
}

/** secure-json-parse's filter: throws, or deletes the keys, per action. */
function filter(obj, protoAction, constructorAction) {
  const hasOwn = Object.prototype.hasOwnProperty
  let next = [obj]
  while (next.length) {
    const nodes = next
    next = []
    for (const node of nodes) {
      if (protoAction !== 'ignore' && hasOwn.call(node, '__proto__')) {
        if (protoAction === 'error') throw new InvalidJsonBody()
        delete node.__proto__ // eslint-disable-line no-proto
      }
      if (
        constructorAction !== 'ignore' &&
        hasOwn.call(node, 'constructor') &&
        node.constructor !== null &&
        typeof node.constructor === 'object' &&
        hasOwn.call(node.constructor, 'prototype')
      ) {
        if (constructorAction === 'error') throw new InvalidJsonBody()
        delete node.constructor
      }
      for (const key in node) {
        const value = node[key]
        if (value && typeof value === 'object') next.push(value)
      }
    }
  }
  return obj
}

function action(value, name, fallback) {
  if (value === undefined) return fallback
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  if (!ACTIONS.includes(value)) throw invalidArgValue(name, value, `must be one of: ${ACTIONS.map((a) => `'${a}'`).join(', ')}`)
  return value
}

/**
 * The parser: the body's value as Fastify's default JSON parser gives it.
 * `body` is the Buffer Fastify read (parseAs 'buffer').
 */
function makeParser(offload, protoAction, constructorAction) {
  return function nodeperfJsonParser(request, body) {
    if (body.length === 0) return Promise.reject(new EmptyJsonBody())
    const buf = dropBom(body)
    // JSON.parse('') fails: what the default parser does with a lone BOM.
    if (buf.length === 0) return Promise.reject(new InvalidJsonBody())
    return pool.parseJson(buf, { offload }).then(
      (value) => {
        if (value === null || typeof value !== 'object') return value
        if (protoAction === 'ignore' && constructorAction === 'ignore') return value
        if (!suspect(buf, protoAction !== 'ignore', constructorAction !== 'ignore')) return value
        return filter(value, protoAction, constructorAction)
      },
      (err) => {
        throw err instanceof SyntaxError ? new InvalidJsonBody() : err
      },
    )
  }
}

/**
 * Fastify plugin: `app.register(json, { offload })` parses
 * `application/json` bodies as Fastify's default parser does, with bodies
 * over 1 MiB (`offload: 'auto'`) parsed on the pool. Registered as
 * fastify-plugin does (not encapsulated), so it serves every route of the
 * context it is registered in, including the routes of plugins registered
 * after it.
 *
 * @param {import('fastify').FastifyInstance} fastify
 * @param {{ offload?: 'auto' | 'always' | 'never', onProtoPoisoning?: 'error' | 'remove' | 'ignore',
 *   onConstructorPoisoning?: 'error' | 'remove' | 'ignore' }} options defaults: the instance's own settings
 * @param {(err?: Error) => void} done
 */
function json(fastify, options, done) {
  validateFunction(done, 'done')
  let parser
  try {
    if (fastify === null || typeof fastify !== 'object' || isRevokedProxy(fastify) || typeof fastify.addContentTypeParser !== 'function') {
      throw invalidArgType('fastify', 'a Fastify instance', fastify)
    }
    validateOptions(options)
    const o = options ?? {}
    validateKeys(o, 'options', OPTIONS, `the fields are ${OPTIONS.join(', ')}`)
    const config = fastify.initialConfig ?? {}
    parser = makeParser(
      offloadOption(o),
      action(o.onProtoPoisoning, 'options.onProtoPoisoning', config.onProtoPoisoning ?? 'error'),
      action(o.onConstructorPoisoning, 'options.onConstructorPoisoning', config.onConstructorPoisoning ?? 'error'),
    )
    fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, parser)
  } catch (err) {
    done(err)
    return
  }
  done()
}
json[Symbol.for('skip-override')] = true
json[Symbol.for('fastify.display-name')] = '@nodeperf/native json'

module.exports = { json, underPressure: underPressure.fastify }
