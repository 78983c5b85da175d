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
