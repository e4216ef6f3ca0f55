/** What a worker tells the master about itself (the `stats` IPC message). */
import type { RequestDelta } from './requests.js';

/** Why a worker was replaced, as tsgunicorn_worker_restarts_total{reason} says. */
export const RESTART_REASONS = ['exit', 'timeout', 'max_requests', 'memory', 'reload'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** Why a worker leaves on its own, as it tells the master. */
export type LeaveReason = 'max_requests' | 'timeout' | 'memory' | 'error';

export interface WorkerReport {
  /** Requests answered since the worker started. */
  served: number;
  /** Requests being served now (given to the app, response not finished). */
  inFlight: number;
  /** Open connections. */
  connections: number;
  /** gthread: app threads busy with a request; null for the other classes. */
  threadsBusy: number | null;
  /** Resident set size of the worker process, bytes. */
  rss: number;
  /** Requests answered since the last report, for the master's Prometheus totals. */
  delta: RequestDelta | null;
  /** Set once the worker has decided to leave on its own. */
  leaving?: LeaveReason;
}

export function isWorkerReport(r: unknown): r is WorkerReport {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return typeof o.served === 'number' && typeof o.inFlight === 'number' && typeof o.rss === 'number';
}
