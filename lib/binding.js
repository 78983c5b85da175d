'use strict'
// Finds and loads the native addon for this platform, in this order:
//   1. NODEPERF_NATIVE_PATH, when set: that file and nothing else;
//   2. a build from source in the package's own folder
//      (nodeperf-native.<platform>.node, written by scripts/build.js);
//   3. the prebuilt platform package (@nodeperf/native-<platform>), which
//      npm installs from the main package's optionalDependencies.
// When none loads, the error names the platform and ABI it looked for, every
// file or package it tried and why each failed, and the one command that
// builds the addon from source.
//
// The requires below are string literals, one per platform, so that a
// bundler can see them: esbuild's `--loader:.node=copy` copies the binary
// beside the bundle, and `--loader:.node=file` turns the require into the
// copied file's path, which is loaded here with process.dlopen.

const fs = require('node:fs')
const path = require('node:path')

const { platformName, PREBUILT } = require('./platform.js')

const root = path.join(__dirname, '..')

// A require that threw, kept as a value.
class Failed {
  constructor(error) {
    this.error = error
  }
}

// One pair of literal requires per platform, directly inside a try: a
// bundler follows them (and copies the binary, with a .node loader), and
// leaves the ones it cannot resolve to fail here at run time.
/**
 * The build from source in the package's folder (`local`), or the prebuilt
 * platform package; undefined for a platform this package does not know.
 */
function requireBinary(name, local) {
  switch (name) {
    case 'linux-x64-gnu':
      try { return local ? require('../nodeperf-native.linux-x64-gnu.node') : require('@nodeperf/native-linux-x64-gnu') } catch (error) { return new Failed(error) }
    case 'linux-x64-musl':
      try { return local ? require('../nodeperf-native.linux-x64-musl.node') : require('@nodeperf/native-linux-x64-musl') } catch (error) { return new Failed(error) }
    case 'linux-arm64-gnu':
      try { return local ? require('../nodeperf-native.linux-arm64-gnu.node') : require('@nodeperf/native-linux-arm64-gnu') } catch (error) { return new Failed(error) }
    case 'linux-arm64-musl':
      try { return local ? require('../nodeperf-native.linux-arm64-musl.node') : require('@nodeperf/native-linux-arm64-musl') } catch (error) { return new Failed(error) }
    case 'darwin-x64':
      try { return local ? require('../nodeperf-native.darwin-x64.node') : require('@nodeperf/native-darwin-x64') } catch (error) { return new Failed(error) }
    case 'darwin-arm64':
      try { return local ? require('../nodeperf-native.darwin-arm64.node') : require('@nodeperf/native-darwin-arm64') } catch (error) { return new Failed(error) }
    case 'win32-x64-msvc':
      try { return local ? require('../nodeperf-native.win32-x64-msvc.node') : require('@nodeperf/native-win32-x64-msvc') } catch (error) { return new Failed(error) }
  }
  return undefined
}

function loadError(code, message, cause) {
  const err = new Error(message, cause === undefined ? undefined : { cause })
  err.code = code
  return err
}

// ELF e_machine values of the architectures Node runs on.
const ELF_MACHINES = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64', 258: 'loong64', 21: 'ppc64', 22: 's390x' }

/**
 * What is wrong with a file dlopen refused, where the file itself tells:
 * glibc reports a binary for another machine as "No such file or directory".
 */
function diagnose(file) {
  let head
  try {
    const fd = fs.openSync(file, 'r')
    try {
      head = Buffer.alloc(20)
      head = head.subarray(0, fs.readSync(fd, head, 0, 20, 0))
    } finally {
      fs.closeSync(fd)
    }
  } catch (e) {
    return e.code === 'ENOENT' ? 'no such file' : `cannot read it (${e.code || e.message})`
  }
  if (process.platform !== 'linux') return null
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return 'it is not a shared library (no ELF header)'
  const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18)
  const arch = ELF_MACHINES[machine] || `ELF machine ${machine}`
  if (arch !== process.arch) return `it is built for ${arch}, and this process runs on ${process.arch}`
  return null
}

/** Loads one .node file by path; the error names the file and why. */
function dlopenFile(file) {
  const mod = { exports: {} }
  try {
    process.dlopen(mod, file)
  } catch (e) {
    const reason = diagnose(file)
    const said = e && e.message ? e.message : String(e)
    throw loadError(
      'ERR_NODEPERF_NATIVE_LOAD',
      `@nodeperf/native could not load the native addon ${file}: ${reason ? `${reason} (${said})` : said}`,
      e,
    )
  }
  return { binding: mod.exports, file }
}

/** Where a bundler's file loader put the binary (a path, not a module). */
function fromBundlerPath(value) {
  return dlopenFile(path.resolve(__dirname, value))
}

function fileOf(exportsObject) {
  for (const [file, entry] of Object.entries(require.cache || {})) {
    if (entry && entry.exports === exportsObject && file.endsWith('.node')) return file
  }
  return null
}

function notFound(name, tried) {
  const abi = `Node ${process.version}, Node-API ${process.versions.napi}, ABI ${process.versions.modules}`
  const build = path.join(root, 'scripts', 'build.js')
  const lines = [
    `@nodeperf/native has no native addon for this platform: ${name} (${abi}).`,
    'Tried:',
    ...tried.map((t) => `  - ${t}`),
    PREBUILT.includes(name)
      ? `The prebuilt package @nodeperf/native-${name} is not installed. npm installs it with @nodeperf/native as an optional dependency, unless told to omit those (--omit=optional, --no-optional, NODE_ENV settings that omit them): install again on this machine with 'npm install @nodeperf/native --include=optional'.`
      : `No prebuilt binary is published for ${name}; prebuilt packages exist for: ${PREBUILT.join(', ')} (glibc >= 2.17).`,
    `To build it from source (needs Rust's cargo, https://rustup.rs): node ${JSON.stringify(build)}`,
    'Or point NODEPERF_NATIVE_PATH at a .node file built from this version.',
  ]
  return loadError('ERR_NODEPERF_NATIVE_MISSING', lines.join('\n'))
}

function load() {
  const override = process.env.NODEPERF_NATIVE_PATH
  if (override !== undefined && override !== '') return dlopenFile(path.resolve(override))

  const name = platformName()
  const tried = []
  const attempts = [
    [true, `../nodeperf-native.${name}.node`, `${path.join(root, `nodeperf-native.${name}.node`)} (built from source)`],
    [false, `@nodeperf/native-${name}`, `@nodeperf/native-${name} (prebuilt package)`],
  ]
  for (const [local, request, what] of attempts) {
    const loaded = requireBinary(name, local)
    if (loaded === undefined) break // a platform this package does not know
    if (loaded instanceof Failed) {
      const e = loaded.error
      // Missing is the normal case for one of the two; a file or package
      // that is there and fails to load is reported as it is.
      const firstLine = String(e && e.message).split('\n')[0]
      if (e && e.code === 'MODULE_NOT_FOUND' && firstLine === `Cannot find module '${request}'`) {
        tried.push(`${what}: not found`)
        continue
      }
      throw loadError(
        'ERR_NODEPERF_NATIVE_LOAD',
        `@nodeperf/native found ${what} for ${name} but could not load it: ${e && e.message ? e.message : e}`,
        e,
      )
    }
    if (typeof loaded === 'string') return fromBundlerPath(loaded)
    return { binding: loaded, file: fileOf(loaded) }
  }
  throw notFound(name, tried.length > 0 ? tried : ['nothing: this platform is not one the package knows'])
}

const { binding, file } = load()
// Where the addon came from: a worker thread loads this same file (the
// process-wide state, such as every loop's monitor, lives in it).
Object.defineProperty(binding, '__file', { value: file })

module.exports = binding
