'use strict'
// Loads the package where no binary fits; prints the error it throws.
try {
  require('@nodeperf/native')
  console.log(JSON.stringify({ loaded: true }))
} catch (e) {
  console.log(JSON.stringify({ loaded: false, name: e.name, code: e.code, message: e.message }))
}
