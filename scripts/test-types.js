'use strict'
// The type tests (`npm run test:types`):
//   1. __test__/tsconfig.json: the public types used as a user would
//      (__test__/api.test-d.ts);
//   2. every subpath imported both ways (ESM `import`, CommonJS `require`)
//      under tsc --strict with moduleResolution node10, node16, nodenext and
//      bundler (__test__/types/). The fixtures live in a scratch project whose
//      node_modules/@nodeperf/native links to this checkout, so the package
//      resolves by name as it does for a user (node10 has no self-reference);
//   3. @arethetypeswrong/cli on the packed tarball (npm pack
//      --ignore-scripts: the tarball's files, without building the addon).
//
//   node scripts/test-types.js [--no-attw]
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const bin = (name) => path.join(root, 'node_modules', '.bin', name)
const fixtures = path.join(root, '__test__', 'types')

/** moduleResolution → [compilerOptions, fixture files]. */
const MODES = {
  node10: [{ module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, ['node10.ts']],
  node16: [{ module: 'node16', moduleResolution: 'node16' }, ['esm.mts', 'cjs.cts']],
  nodenext: [{ module: 'nodenext', moduleResolution: 'nodenext' }, ['esm.mts', 'cjs.cts']],
  bundler: [{ module: 'preserve', moduleResolution: 'bundler' }, ['bundler.ts']],
}

let failures = 0
function step(what, cmd, args, options = {}) {
  const started = process.hrtime.bigint()
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options })
  what += ` (${Number((process.hrtime.bigint() - started) / 1_000_000n) / 1000} s)`
  const out = `${r.stdout || ''}${r.stderr || ''}${r.error ? r.error.message : ''}`.trim()
  if (r.status === 0) {
    console.log(`ok - ${what}`)
  } else {
    failures++
    console.log(`not ok - ${what}`)
    if (out) console.log(out.replace(/^/gm, '  # '))
  }
  return r
}

step('tsc -p __test__/tsconfig.json (api.test-d.ts)', bin('tsc'), ['-p', path.join(root, '__test__', 'tsconfig.json')])

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-types-'))
try {
  const modules = path.join(scratch, 'node_modules')
  const link = (target, at) => {
    fs.mkdirSync(path.dirname(at), { recursive: true })
    fs.symlinkSync(target, at, 'dir')
  }
  link(root, path.join(modules, '@nodeperf', 'native'))
  for (const dep of ['prom-client', path.join('@opentelemetry', 'api'), path.join('@types', 'node')]) {
    link(fs.realpathSync(path.join(root, 'node_modules', dep)), path.join(modules, dep))
  }
  for (const f of fs.readdirSync(fixtures)) fs.copyFileSync(path.join(fixtures, f), path.join(scratch, f))
  for (const [mode, [options, files]] of Object.entries(MODES)) {
    const config = path.join(scratch, `tsconfig.${mode}.json`)
    const compilerOptions = { strict: true, noEmit: true, target: 'es2022', types: ['node'], skipLibCheck: false, ...options }
    fs.writeFileSync(config, JSON.stringify({ compilerOptions, files }, null, 2))
    step(`tsc --strict, moduleResolution ${mode}: ${files.join(', ')}`, bin('tsc'), ['-p', config])
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true })
}

if (!process.argv.includes('--no-attw')) {
  const packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeperf-attw-'))
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const packed = step('npm pack --ignore-scripts', npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: root })
    if (packed.status === 0) {
      const tgz = path.join(packDir, JSON.parse(packed.stdout)[0].filename)
      step('attw (@arethetypeswrong/cli) on the tarball: every entry point, every resolution', bin('attw'), [tgz])
    }
  } finally {
    fs.rmSync(packDir, { recursive: true, force: true })
  }
}

console.log(failures === 0 ? '\ntest:types passed' : `\ntest:types: ${failures} check(s) failed`)
process.exit(failures === 0 ? 0 : 1)
