// puppeteer comes in with @memlab/core (a devDependency, for
// bench/heap-analyse.mjs, which reads heap snapshots and needs no browser).
// Its install step must not download one: this is puppeteer's documented
// switch, read from the project root.
module.exports = { skipDownload: true }
