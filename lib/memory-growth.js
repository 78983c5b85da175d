'use strict'
// The leak locator's arithmetic: which allocation sites of a V8 sampling
// heap profile (`HeapProfiler.SamplingHeapProfile`) hold more live bytes
// than at the previous read, and the same summed per naming function. Pure functions of the profile, with no
// inspector in them: lib/memory-locator.js runs them on the thread that
// samples, the sidecar's worker (lib/sidecar-worker.js) on its own thread,
// off the loop it watches. Why this way: docs/memory.md, "Leak locator".

const { MAX_FRAMES, isUser, frameOf } = require('./culprits-attribute.js')

/** Sites returned per read unless asked otherwise. */
const DEFAULT_TOP = 20

const keyOf = (cf) => `${cf.functionName}\0${cf.url}\0${cf.lineNumber}\0${cf.columnNumber}`

/**
 * Every allocation site of `profile` with live bytes: `Map<stackKey, site>`.
 * A site is a whole stack (the allocating function and its callers), keyed
 * by its frames rather than by node ids: an id lasts only while its node
 * holds samples (V8 deletes an emptied node; the stack's next sample makes
 * a new one with a new id). `(root)` is left out of the stacks.
 */
function sitesOf(profile) {
  const sites = new Map()
  const head = profile && profile.head
  if (!head) return sites
  // Iterative walk: a deep recursion in the app is a deep tree here.
  const stack = [[head, '', null]]
  while (stack.length > 0) {
    const [node, parentKey, parentFrames] = stack.pop()
    const cf = node.callFrame
    const isRoot = parentFrames === null
    const key = isRoot ? '' : `${parentKey}\n${keyOf(cf)}`
    const frames = isRoot ? [] : [cf, ...parentFrames].slice(0, MAX_FRAMES * 4)
    if (!isRoot && node.selfSize > 0) {
      const known = sites.get(key)
      if (known) known.liveBytes += node.selfSize
      else sites.set(key, { frames, liveBytes: node.selfSize })
    }
    for (const child of node.children || []) stack.push([child, key, frames])
  }
  return sites
}

/**
 * The growth since the previous read. Keeps the previous read's live bytes
 * per site, nothing more (one number per stack).
 */
class Growth {
  constructor() {
    /** stack key → live bytes at the previous read */
    this.previous = new Map()
    /** function key → live bytes at the previous read */
    this.previousFunctions = new Map()
    this.reads = 0
  }

  /**
   * Sites of `profile` ranked by live bytes gained since the previous read
   * (the first read: since sampling started), the `top` first, only those
   * that grew. `totalLiveBytes` counts every sampled live byte.
   */
  read(profile, top = DEFAULT_TOP) {
    const sites = sitesOf(profile)
    const ranked = []
    let totalLiveBytes = 0
    for (const [key, site] of sites) {
      totalLiveBytes += site.liveBytes
      const growthBytes = site.liveBytes - (this.previous.get(key) ?? 0)
      if (growthBytes > 0) ranked.push({ key, site, growthBytes })
    }
    ranked.sort((a, b) => b.growthBytes - a.growthBytes || b.site.liveBytes - a.site.liveBytes)
    this.previous = new Map([...sites].map(([key, site]) => [key, site.liveBytes]))
    const functions = this.functionsRead(sites, top)
    this.reads++
    return {
      read: this.reads,
      totalLiveBytes,
      sites: ranked.slice(0, top).map(({ site, growthBytes }) => describeSite(site, growthBytes)),
      functions,
    }
  }

  /**
   * The sites summed per naming function (the frame `describeSite` names a
   * site by), ranked by the function's net growth since the previous read:
   * one leak reached through several call paths (stacks that differ only
   * in deeper frames) is one row. `sites` counts its stacks with live bytes.
   */
  functionsRead(sites, top) {
    const byFunction = new Map()
    for (const site of sites.values()) {
      const named = namedFrame(site)
      const key = keyOf(named)
      const f = byFunction.get(key)
      if (f) {
        f.liveBytes += site.liveBytes
        f.sites++
      } else {
        byFunction.set(key, { frame: named, liveBytes: site.liveBytes, sites: 1 })
      }
    }
    const ranked = []
    for (const [key, f] of byFunction) {
      const growthBytes = f.liveBytes - (this.previousFunctions.get(key) ?? 0)
      if (growthBytes > 0) ranked.push({ f, growthBytes })
    }
    ranked.sort((a, b) => b.growthBytes - a.growthBytes || b.f.liveBytes - a.f.liveBytes)
    this.previousFunctions = new Map([...byFunction].map(([key, f]) => [key, f.liveBytes]))
    return ranked.slice(0, top).map(({ f, growthBytes }) => ({ ...frameOf(f.frame), liveBytes: f.liveBytes, growthBytes, sites: f.sites }))
  }
}

/** The frame that names a site: its first user frame, else the allocating one. */
function namedFrame(site) {
  return site.frames.find((cf) => isUser(cf)) ?? site.frames[0]
}

/**
 * A site as users get it: its first user frame (not Node's, V8's or this
 * package's; the allocating frame when there is none) names it; `frames`
 * is the whole stack, allocating function first.
 */
function describeSite(site, growthBytes) {
  const named = namedFrame(site)
  return {
    ...frameOf(named),
    liveBytes: site.liveBytes,
    growthBytes,
    frames: site.frames.slice(0, MAX_FRAMES).map(frameOf),
  }
}

module.exports = { Growth, sitesOf, DEFAULT_TOP }
