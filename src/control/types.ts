/**
 * What the master's services (control socket, metrics server, StatsD gauge) see of the arbiter:
 * a read-only view of its workers and the few actions an operator may ask for. The arbiter
 * implements it with its own methods (scale, reload, stop), so a command does exactly what the
 * corresponding signal does.
 */
import type { Worker as ClusterWorker } from 'node:cluster';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';

export interface WorkerInfo {
  pid: number;
  /** Spawn order. */
  age: number;
  generation: number;
  spawnedAt: number;
  booted: boolean;
  lastBeat: number;
  /** Asked to stop, or stopping on its own. */
  leaving: boolean;
  worker: ClusterWorker;
}

export interface WorkerExitInfo {
  pid: number;
  booted: boolean;
  code: number | null;
  signal: string | null;
  /** The master killed it after a heartbeat timeout. */
  timedOut: boolean;
  /** Replaced by a newer generation (HUP, ctl reload). */
  reloaded: boolean;
  /** Asked to stop (or stopping on its own). */
  leaving: boolean;
  /** The master itself is stopping. */
  stopping: boolean;
}

export interface ControlledArbiter {
  readonly phase: 'booting' | 'running' | 'stopping';
  readonly startedAt: number;
  readonly targetWorkers: number;
  readonly workerClassName: string;
  readonly currentSettings: Settings;
  readonly logger: Logger;
  listWorkers(): WorkerInfo[];
  /** TTIN × n; returns the new target. */
  addWorkers(n: number): number;
  /** TTOU × n (never below 1); returns the new target. */
  removeWorkers(n: number): number;
  /** HUP. */
  requestReload(): void;
  /** TERM (graceful) or INT (quick). */
  requestStop(graceful: boolean): void;
  /** USR1. */
  reopenLogFiles(): void;
  /** Told about every worker exit, after the arbiter has dealt with it. */
  onWorkerExit: ((info: WorkerExitInfo) => void) | null;
}
