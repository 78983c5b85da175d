'use strict'
// The task piscina's workers run in bench/pool.mjs: the same xxh3 of the
// same bytes as our pool's tiny task (through this addon, on the worker).
const { hashSync } = require('..')
module.exports = ({ data }) => hashSync('xxh3', data)
