'use strict'
// `nodeperf <command> ...`: finds the command and runs it. A command is a
// module under lib/cli/ exporting `{ name, summary, usage, run(argv, io) }`;
// `run` resolves to an exit code. Usage errors (a `UsageError`) print the
// command's usage and exit 2; analysis errors print their code and message
// and exit 1. To add a command, add its module to COMMANDS.

const { UsageError } = require('./io.js')

const COMMANDS = [require('./heap.js'), require('./doctor.js')]

function usage() {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  return [
    'Usage: nodeperf <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `nodeperf <command> --help` for a command\'s options.',
    '',
  ].join('\n')
}

const defaultIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
}

/**
 * Runs the CLI with `argv` (without `node` and the script); resolves to the
 * exit code: 0 done, 1 the analysis failed, 2 a usage error.
 */
async function main(argv, io = defaultIo) {
  const [name, ...rest] = argv
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(usage())
    return 0
  }
  if (name === '--version' || name === '-v') {
    io.out(`${require('../../package.json').version}\n`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    io.err(`${name === undefined ? 'nodeperf: no command given' : `nodeperf: unknown command '${name}'`}\n\n${usage()}`)
    return 2
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`nodeperf ${name}: ${err.message}\n\n${err.usage}`)
      return 2
    }
    const message = err && err.message ? err.message : String(err)
    // fs errors already start with their code ("ENOENT: no such file …").
    const code = err && err.code && !message.startsWith(`${err.code}:`) ? `${err.code}: ` : ''
    io.err(`nodeperf ${name}: ${code}${message}\n`)
    return 1
  }
}

module.exports = { main, COMMANDS }
