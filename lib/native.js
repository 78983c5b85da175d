'use strict'
// The native addon, attached to the calling thread's event loop. Every
// module that needs the addon requires this file, never lib/binding.js (the
// loader) directly: whichever loads first attaches the thread (main or
// worker), once, before any other native call. Attaching starts this
// thread's lag monitor.

const { isMainThread, threadId } = require('node:worker_threads')
const binding = require('./binding.js')

binding.attach(threadId, isMainThread)

module.exports = binding
