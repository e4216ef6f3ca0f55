/**
 * Messages between the master and its workers over the cluster IPC channel. Small and few:
 * nothing here travels per request.
 */
import type { Settings } from './config/settings.js';
import type { WorkerReport } from './metrics/report.js';

/** What a worker learns at fork time, through its environment (available before any IPC). */
export interface WorkerBoot {
  settings: Settings;
  /** The resolved worker class (a builtin name or a module path). */
  workerClass: string;
  /** How many listeners the master holds; handles arrive as `listener` messages. */
  listeners: number;
  /** Process titles and log lines name the server by this. */
  procName: string;
  /** Spawn order (hooks see it as worker.age). */
  age: number;
  /** The config file, which a worker loads again for its hooks (functions do not cross processes). */
  configFile: string | null;
  /** Whether the config file defines worker-side hooks. */
  hooks: boolean;
}

export const WORKER_BOOT_ENV = 'TSGUNICORN_WORKER';

export type MasterMessage =
  /** A duplicate of listener i's descriptor rides along as the message's handle. */
  | { t: 'listener'; i: number }
  /** Send a `stats` report now (ctl stats, a /metrics scrape). */
  | { t: 'stats?' }
  /** The whole server stops gracefully (TERM to the master): drain the accept queue, then stop. */
  | { t: 'stop' };

export type WorkerMessage =
  /** The app is loaded and the worker class serves. */
  | { t: 'booted' }
  /**
   * The worker is leaving on its own (max_requests, a fatal error): start its replacement now.
   * `crashed`: an uncaught exception, which counts towards the respawn back-off.
   */
  | { t: 'leaving'; crashed?: boolean }
  /** Liveness, sent from the worker's event loop. */
  | { t: 'hb' }
  /** The worker wants another duplicate of listener i (it closed one to pause accepting). */
  | { t: 'listener?'; i: number }
  /** Counters since the last report and current gauges: every second, when asked, and on leaving. */
  | { t: 'stats'; report: WorkerReport };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
