// piscina's worker for bench/json.mjs: parses in the worker and returns the
// object (piscina sends it back to the main thread by structured clone).
export default function parse(text) {
  return JSON.parse(text)
}
