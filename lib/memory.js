'use strict'
// memory: the `memory` export, gathered from its parts (each its own module):
//
// - lib/memory-gc.js       GC pause histograms, heap after GC, the leak warning
// - lib/memory-locator.js  the sampling leak locator (allocation sites that grow)
// - lib/memory-snapshot.js writing a heap snapshot on request, with a refusal
//                          when the machine lacks the memory it costs
//
// Analysing snapshots is `heap` (lib/heap.js, native code on the pool).

module.exports = {
  memory: Object.freeze({
    ...require('./memory-gc.js'),
    ...require('./memory-locator.js'),
    ...require('./memory-snapshot.js'),
  }),
}
