import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
require('@nodeperf/native') // attaches the binding to this thread
const binding = require('../lib/binding.js')

// Every error kind of src/error.rs, as JS receives it.
const kinds = [
  ['ERR_INVALID_ARG_TYPE', TypeError, 'TypeError', /^The "data" argument must be of type string\. Received type number \(1\)$/],
  ['ERR_INVALID_ARG_VALUE', TypeError, 'TypeError', /task\.op.*'nope'/],
  ['ERR_OUT_OF_RANGE', RangeError, 'RangeError', /^The value of "q" is out of range\. It must be > 0 and <= 100\. Received 100\.5$/],
  ['ABORT_ERR', Error, 'AbortError', /^The operation was aborted$/],
  ['ERR_NODEPERF_JSON_SYNTAX', SyntaxError, 'SyntaxError', /at position 1/],
  ['ERR_NODEPERF_QUEUE_FULL', Error, 'Error', /queue is full \(8 tasks waiting\)/],
  ['ERR_NODEPERF_POOL_CLOSED', Error, 'Error', /pool is closed/],
  ['ERR_NODEPERF_TASK_PANICKED', Error, 'Error', /panicked on a pool thread: boom/],
  ['ERR_NODEPERF_THREAD_ENDED', Error, 'Error', /event loop of worker-1 has ended/],
  ['ERR_NODEPERF_NOT_ATTACHED', Error, 'Error', /not attached/],
  ['ERR_NODEPERF_LOW_MEMORY', Error, 'Error', /^Not enough memory for a heap snapshot: it would take about 2048\.0 MiB and 1024\.0 MiB is available \(MemAvailable\)$/],
  ['ERR_NODEPERF_LOCATOR_ACTIVE', Error, 'Error', /^A leak locator already runs on this thread: stop it first$/],
  ['ERR_NODEPERF_LOCATOR_STOPPED', Error, 'Error', /leak locator was stopped/],
  ['ERR_NODEPERF_INSPECTOR_IN_USE', Error, 'Error', /^The inspector is in use: a debugger is attached$/],
  ['ERR_NODEPERF_INSPECTOR', Error, 'Error', /^An inspector command failed: -32000$/],
]

for (const [code, ctor, name, message] of kinds) {
  test(`${code} becomes a ${name} with its code and message`, () => {
    const err = binding.__errorForTest(code)
    assert.ok(err instanceof ctor, `${code} is not a ${ctor.name}`)
    assert.ok(err instanceof Error)
    assert.equal(err.name, name)
    assert.equal(err.code, code)
    assert.match(err.message, message)
    assert.equal(typeof err.stack, 'string')
  })
}

test('a SyntaxError carries its position as a number', () => {
  const err = binding.__errorForTest('ERR_NODEPERF_JSON_SYNTAX')
  assert.equal(err.position, 1)
})

test('an unknown code is itself a RangeError, thrown', () => {
  assert.throws(() => binding.__errorForTest('NOPE'), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: /"code" is out of range.*Received NOPE/,
  })
})

test("Node's own codes the package uses are built as Node builds them", () => {
  const { Pool, AbortError } = require('@nodeperf/native')
  // ERR_ILLEGAL_CONSTRUCTOR: the same error as Node's `new AbortSignal()`.
  let node
  try {
    new AbortSignal()
  } catch (e) {
    node = e
  }
  assert.throws(() => new Pool(), (err) => {
    assert.ok(err instanceof TypeError)
    assert.deepEqual([err.name, err.code, err.message], [node.name, node.code, node.message])
    return true
  })
  // ERR_MEMORY_ALLOCATION_FAILED: Node's code and class, the engine's error as cause.
  const { allocationFailed } = require('../lib/errors.js')
  const cause = new RangeError('Array buffer allocation failed')
  const err = allocationFailed('a SharedArrayBuffer of 8 bytes', cause)
  assert.equal(err.constructor, Error)
  assert.equal(err.code, 'ERR_MEMORY_ALLOCATION_FAILED')
  assert.equal(err.message, 'Failed to allocate memory for a SharedArrayBuffer of 8 bytes')
  assert.equal(err.cause, cause)
  // AbortError checks its arguments as Node's own does, with codes.
  assert.throws(() => new AbortError(Symbol('m')), { code: 'ERR_INVALID_ARG_TYPE', message: /"message" argument must be of type string/ })
  assert.throws(() => new AbortError('m', 1), { code: 'ERR_INVALID_ARG_TYPE', message: /"options" argument must be of type object/ })
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  assert.throws(() => new AbortError('m', proxy), { code: 'ERR_INVALID_ARG_VALUE', message: /'options' is a revoked Proxy/ })
  assert.equal(new AbortError('m', { cause: 1 }).cause, 1)
})

test('describing a value never throws, whatever the value', () => {
  const { describeReceived, invalidArgValue } = require('../lib/errors.js')
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  const trapsThrow = new Proxy({}, { get() { throw new Error('trap') }, getPrototypeOf() { throw new Error('trap') } })
  const ab = new ArrayBuffer(8)
  const detachedView = new DataView(ab)
  structuredClone(ab, { transfer: [ab] })
  for (const v of [proxy, trapsThrow, new Proxy(Buffer.alloc(2), {}), detachedView, new Proxy(function f() {}, { get() { throw new Error('trap') } })]) {
    assert.equal(typeof describeReceived(v), 'string')
    assert.equal(invalidArgValue('x', v).code, 'ERR_INVALID_ARG_VALUE')
  }
  assert.equal(describeReceived(proxy), '<Revoked Proxy>')
})
