import type { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import type { Worker } from 'node:cluster'

/** Options of {@link supervise}. Every field is optional. */
export interface SuperviseOptions {
  /** How many workers to keep running. @default os.availableParallelism() */
  workers?: number
  /** The workers' script (`cluster.setupPrimary({ exec })`). @default process.argv[1] */
  exec?: string
  /** Arguments for the workers' script (`cluster.setupPrimary({ args })`). */
  args?: string[]
  /** Environment added to the workers' (`cluster.fork(env)`). */
  env?: Record<string, string | undefined>
  /** Replace a worker whose main loop has been stuck this long, ms; 0 is off, else at least 10. Needs the shared-memory view (lib/group.js). @default 0 */
  stuckMs?: number
  /** How often the view of the workers' loops is read, ms. @default min(250, stuckMs / 4) */
  pollMs?: number
  /** A stuck worker: time between SIGTERM and SIGKILL, ms. @default 10000 */
  graceMs?: number
  /** Shutdown and rolling restart: how long a disconnected worker may drain before SIGKILL, ms. @default 30000 */
  shutdownMs?: number
  /** Delay before a crashed worker is forked again: initialMs, times factor after each crash of its slot, at most maxMs; back to initialMs once a worker of the slot stays up resetMs. */
  backoff?: {
    /** @default 100 */
    initialMs?: number
    /** @default 30000 */
    maxMs?: number
    /** @default 2 */
    factor?: number
    /** @default 10000 */
    resetMs?: number
  }
  /** `crashes` crashes within `windowMs` (every worker's, stuck replacements not counted) stop the supervisor. */
  crashLoop?: {
    /** @default 5 */
    crashes?: number
    /** @default 60000 */
    windowMs?: number
  }
  /** SIGTERM/SIGINT → graceful shutdown (a second one forces), SIGHUP → rolling restart. @default true */
  signals?: boolean
  /** After a signal's shutdown or a crash loop, end the primary with `process.exit(exitCodes.*)`. @default true */
  exit?: boolean
  /** Receives every event; `false` for none. @default one `nodeperf cluster: <message>` line per event on stderr */
  log?: ((event: SupervisorEvent) => void) | false
}

/** Every event: its type, when, a readable message, and fields that depend on the type. */
export interface SupervisorEvent {
  type: SupervisorEventType
  /** Epoch ms. */
  time: number
  /** One readable line (what the default log prints). */
  message: string
  /** Cluster worker id (per-worker events). */
  id?: number
  pid?: number
  /** 'fork': why (`'start'`, `'crash'`, `'stuck'`, `'restart'`); 'exit': `'crash'`, `'stuck'`, `'restart'`, `'shutdown'`; 'replace': `'stuck'` or `'restart'`; 'shutdown'/'stopped': `'shutdown'`, `'crash-loop'` or the signal. */
  reason?: string
  /** 'exit', 'crash', 'crash-loop': the exit code or signal. */
  code?: number | null
  signal?: string | null
  /** 'crash': the delay before the restart, ms; null when there is none. */
  delayMs?: number | null
  /** 'crash', 'crash-loop': crashes inside the window so far, the window and the limit. */
  crashes?: number
  windowMs?: number
  limit?: number
  /** 'stuck': how long the main loop has been stuck, ms. */
  stalledFor?: number
  /**
   * 'stuck': the label (`fn (file:line)`) the view carries for that loop:
   * the stall in progress when the worker runs stall culprits in precise
   * mode, else its last finished stall that had a culprit; null when none.
   */
  culprit?: string | null
  /** 'replace': the replacement. */
  by?: number
  byPid?: number
  /** 'stopped': the worker ids SIGKILLed at the deadline. */
  killed?: number[]
  [key: string]: unknown
}

export type SupervisorEventType =
  | 'fork'
  | 'listening'
  | 'exit'
  | 'crash'
  | 'crash-loop'
  | 'stuck'
  | 'replace'
  | 'kill'
  | 'restart'
  | 'restarted'
  | 'restart-failed'
  | 'signal'
  | 'shutdown'
  | 'stopped'
  | 'view-error'

/** What {@link Supervisor.shutdown} resolves to. */
export interface ShutdownResult {
  /** The exit code for the primary, one of {@link exitCodes}. */
  code: number
  /** Worker ids SIGKILLed at the deadline. */
  killed: number[]
  /** `'shutdown'`, `'crash-loop'`, or the signal (`'SIGTERM'`, `'SIGINT'`). */
  reason: string
}

export interface Supervisor extends EventEmitter {
  /** The current worker of each slot (workers being replaced are not in it). */
  readonly workers: Worker[]
  readonly state: 'running' | 'stopping' | 'stopped'
  /** Workers forked so far. */
  readonly forks: number
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<Omit<SuperviseOptions, 'exec' | 'args' | 'env'>>> & Pick<SuperviseOptions, 'exec' | 'args' | 'env'>
  /** Rolling restart, one worker at a time; resolves to the number replaced. */
  restart(): Promise<number>
  /** Graceful shutdown; resolves once every worker has exited. Does not exit the process. */
  shutdown(): Promise<ShutdownResult>
  on(event: SupervisorEventType, listener: (event: SupervisorEvent) => void): this
  once(event: SupervisorEventType, listener: (event: SupervisorEvent) => void): this
}

/**
 * Forks `workers` cluster workers and keeps them running (restarts with
 * backoff, crash-loop stop, stuck-worker replacement, graceful shutdown,
 * rolling restart). Only in the cluster primary (`ERR_NODEPERF_NOT_PRIMARY`
 * elsewhere); one at a time per process.
 */
export declare function supervise(options?: SuperviseOptions): Supervisor

/**
 * In a worker: makes `server.close()` (which a cluster disconnect calls)
 * close idle keep-alive connections at once and send in-flight responses
 * with `Connection: close`. Returns `server`.
 */
export declare function drain<S extends Server>(server: S): S

/** The primary's exit codes when the supervisor ends it. */
export declare const exitCodes: {
  readonly clean: 0
  readonly deadline: 1
  readonly crashLoop: 2
  readonly forced: 3
}
