// Shared by the specs that read Prometheus exposition text.
import assert from 'node:assert/strict'

/** Parses exposition text into { name: [{ labels, value }] }. */
export function parse(text) {
  const out = {}
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/)
    assert.ok(m, `unparsable line: ${line}`)
    const labels = {}
    for (const [, k, v] of (m[2] || '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels[k] = v
    ;(out[m[1]] ||= []).push({ labels, value: Number(m[3]) })
  }
  return out
}
