'use strict'
// heap: heap-snapshot analysis (being written)

module.exports = { heap: Object.freeze({}) }
