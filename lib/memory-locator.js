'use strict'
// (being written)

module.exports = {}
