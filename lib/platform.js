'use strict'
// napi-rs's platform names (linux-x64-gnu, darwin-arm64, win32-x64-msvc, …):
// the suffix of the binary's file name and of its prebuilt package.

function isMusl() {
  if (process.platform !== 'linux') return false
  // glibc reports its version in the process report's header; musl has none.
  const report = process.report
  const excluded = report.excludeNetwork
  report.excludeNetwork = true
  try {
    return !report.getReport().header.glibcVersionRuntime
  } finally {
    report.excludeNetwork = excluded
  }
}

function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The platforms whose prebuilt package is built and shipped. */
const PREBUILT = Object.freeze(['linux-x64-gnu'])

module.exports = { platformName, PREBUILT }
