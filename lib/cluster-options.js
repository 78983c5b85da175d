'use strict'
// The options of supervise() (lib/cluster.js): checked, defaults filled in.
// docs/cluster.md documents each.

const os = require('node:os')
const { invalidArgType, invalidArgValue } = require('./errors.js')
const { integerOption, numberOption, validateFunction, validateKeys, validateObject, validateOptions } = require('./validate.js')

const OPTIONS = ['workers', 'exec', 'args', 'env', 'stuckMs', 'pollMs', 'graceMs', 'shutdownMs', 'backoff', 'crashLoop', 'signals', 'exit', 'log']
const BACKOFF = ['initialMs', 'maxMs', 'factor', 'resetMs']
const CRASH_LOOP = ['crashes', 'windowMs']
const DAY = 86_400_000

function supervisorOptions(options) {
  validateOptions(options)
  const o = options ?? {}
  validateKeys(o, 'options', OPTIONS, `the options are ${OPTIONS.join(', ')}`)
  const workers = integerOption(o.workers, 'options.workers', os.availableParallelism(), 1, 1024)
  if (o.exec !== undefined && typeof o.exec !== 'string') throw invalidArgType('options.exec', 'of type string', o.exec)
  if (o.args !== undefined) {
    if (!Array.isArray(o.args)) throw invalidArgType('options.args', 'an instance of Array', o.args)
    o.args.forEach((a, i) => {
      if (typeof a !== 'string') throw invalidArgType(`options.args[${i}]`, 'of type string', a)
    })
  }
  if (o.env !== undefined) validateObject(o.env, 'options.env')
  const stuckMs = numberOption(o.stuckMs, 'options.stuckMs', 0, 0, DAY, `>= 0 and <= ${DAY}`)
  if (stuckMs > 0 && stuckMs < 10) throw invalidArgValue('options.stuckMs', stuckMs, 'must be 0 (off) or at least 10')
  const pollMs = numberOption(o.pollMs, 'options.pollMs', stuckMs > 0 ? Math.min(250, stuckMs / 4) : 250, 1, 60_000, '>= 1 and <= 60000')
  const graceMs = numberOption(o.graceMs, 'options.graceMs', 10_000, 0, DAY, `>= 0 and <= ${DAY}`)
  const shutdownMs = numberOption(o.shutdownMs, 'options.shutdownMs', 30_000, 0, DAY, `>= 0 and <= ${DAY}`)
  validateOptions(o.backoff, 'options.backoff')
  const b = o.backoff ?? {}
  validateKeys(b, 'options.backoff', BACKOFF, `its fields are ${BACKOFF.join(', ')}`)
  const initialMs = numberOption(b.initialMs, 'options.backoff.initialMs', 100, 0, DAY, `>= 0 and <= ${DAY}`)
  const backoff = {
    initialMs,
    maxMs: numberOption(b.maxMs, 'options.backoff.maxMs', Math.max(30_000, initialMs), initialMs, DAY, `>= options.backoff.initialMs (${initialMs}) and <= ${DAY}`),
    factor: numberOption(b.factor, 'options.backoff.factor', 2, 1, 1000, '>= 1 and <= 1000'),
    resetMs: numberOption(b.resetMs, 'options.backoff.resetMs', 10_000, 0, DAY, `>= 0 and <= ${DAY}`),
  }
  validateOptions(o.crashLoop, 'options.crashLoop')
  const c = o.crashLoop ?? {}
  validateKeys(c, 'options.crashLoop', CRASH_LOOP, `its fields are ${CRASH_LOOP.join(', ')}`)
  const crashLoop = {
    crashes: integerOption(c.crashes, 'options.crashLoop.crashes', 5, 1, 1_000_000),
    windowMs: numberOption(c.windowMs, 'options.crashLoop.windowMs', 60_000, 1, DAY, `>= 1 and <= ${DAY}`),
  }
  for (const name of ['signals', 'exit']) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') throw invalidArgType(`options.${name}`, 'of type boolean', o[name])
  }
  let log = defaultLog
  if (o.log === false) log = null
  else if (o.log !== undefined) {
    if (typeof o.log !== 'function') throw invalidArgType('options.log', 'of type function or false', o.log)
    validateFunction(o.log, 'options.log') // not a revoked Proxy
    log = o.log
  }
  return {
    workers,
    exec: o.exec,
    args: o.args === undefined ? undefined : [...o.args],
    env: o.env,
    stuckMs,
    pollMs,
    graceMs,
    shutdownMs,
    backoff,
    crashLoop,
    signals: o.signals ?? true,
    exit: o.exit ?? true,
    log,
  }
}

function defaultLog(event) {
  process.stderr.write(`nodeperf cluster: ${event.message}\n`)
}

module.exports = { supervisorOptions }
