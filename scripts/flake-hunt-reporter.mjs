// A node:test reporter for scripts/flake-hunt.js: one JSON line per test
// that passed or failed (file, the test's name with its parents', and for a
// failure the message and where it was thrown). Used as
//   node --test --test-reporter=./scripts/flake-hunt-reporter.mjs --test-reporter-destination=FILE
// Works on Node 20, 22 and 24 (the events' shape is the same there).

/** The message of a test failure: the assertion's, not the runner's wrapper. */
function messageOf(error) {
  if (error == null) return 'failed (no error given)'
  const inner = error.cause ?? error
  let message = typeof inner === 'object' && 'message' in inner ? String(inner.message) : String(inner)
  if (inner && inner.code && inner.code !== 'ERR_ASSERTION' && !message.includes(inner.code)) message = `${inner.code}: ${message}`
  if (error.failureType && error.failureType !== 'testCodeFailure') message = `${error.failureType}: ${message}`
  return message
}

/** The first stack frame inside the project's specs or code, if any. */
function whereOf(error) {
  const inner = error && (error.cause ?? error)
  const stack = inner && typeof inner.stack === 'string' ? inner.stack : ''
  const line = stack.split('\n').find((l) => /__test__|\/lib\/|\/index\.m?js/.test(l) && !l.includes('node:'))
  return line ? line.trim().replace(/^at /, '') : undefined
}

export default async function* flakeHuntReporter(source) {
  // Per file, the names of the tests now open at each nesting level.
  const open = new Map()
  const pathOf = (data) => {
    const stack = open.get(data.file) ?? []
    return [...stack.slice(0, data.nesting), data.name]
  }
  for await (const event of source) {
    const { type, data } = event
    if (type === 'test:start') {
      const stack = open.get(data.file) ?? []
      stack.length = data.nesting
      stack.push(data.name)
      open.set(data.file, stack)
    } else if (type === 'test:pass' || type === 'test:fail') {
      // A skipped or todo test is neither here nor there.
      if (data.skip || data.todo) continue
      const record = { status: type === 'test:pass' ? 'pass' : 'fail', file: data.file ?? null, test: pathOf(data) }
      if (type === 'test:fail') {
        const error = data.details && data.details.error
        record.message = messageOf(error)
        const where = whereOf(error)
        if (where) record.where = where
        // A parent fails when a subtest does: report only the subtest.
        if (error && error.failureType === 'subtestsFailed') record.subtestsFailed = true
      }
      yield `${JSON.stringify(record)}\n`
    }
  }
}
