// yieldEvery() keeps yielding when a test fakes the clock: Jest's modern
// timers (@sinonjs/fake-timers) replace globalThis.performance with one
// whose now() only moves when the test ticks it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { performance as realPerformance } from 'node:perf_hooks'
import { setImmediate } from 'node:timers'
import { yieldEvery, overloaded } from '@nodeperf/native'

test('yieldEvery() yields to the loop with a frozen globalThis.performance', async () => {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'performance')
  Object.defineProperty(globalThis, 'performance', {
    value: { now: () => 0, timeOrigin: realPerformance.timeOrigin },
    configurable: true,
    writable: true,
  })
  try {
    assert.equal(performance.now(), 0, 'the global is faked')
    let processed = 0
    let processedWhenLoopRan = -1
    setImmediate(() => (processedWhenLoopRan = processed))
    const items = Array.from({ length: 20 }, (_, i) => i)
    // Each item outlasts the budget on the real clock, so a batch that reads
    // the real clock ends after its first item.
    const n = await yieldEvery(items, () => {
      processed++
      const until = realPerformance.now() + 2
      while (realPerformance.now() < until);
    }, { budgetMs: 1 })
    assert.equal(n, items.length)
    assert.ok(processedWhenLoopRan >= 1 && processedWhenLoopRan < items.length, `the loop ran after ${processedWhenLoopRan} of ${items.length} items`)
    // overloaded() reads the same clock for its cache.
    assert.equal(typeof overloaded(), 'boolean')
  } finally {
    Object.defineProperty(globalThis, 'performance', descriptor)
  }
  assert.equal(performance, realPerformance)
})
