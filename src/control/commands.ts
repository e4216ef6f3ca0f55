/**
 * The commands of the control socket, run in the master. Each maps onto what the arbiter already
 * does for a signal (reload = HUP, add = TTIN × N, remove = TTOU × N, reopen-logs = USR1,
 * shutdown = INT, or TERM with graceful), so a command and its signal cannot drift apart.
 */
import type { WorkerBook } from '../metrics/master.js';
import { VERSION } from '../version.js';
import type { ControlledArbiter } from './types.js';

/** How long `stats` and `workers` wait for the workers' fresh numbers. */
export const STATS_WAIT_MS = 500;

export interface WorkerStats {
  pid: number;
  age: number;
  generation: number;
  booted: boolean;
  /** ISO time of its first "booted" message; null while it boots. */
  booted_at: string | null;
  /** Seconds since it was spawned. */
  uptime: number;
  requests: number | null;
  in_flight: number | null;
  connections: number | null;
  /** Seconds since its last heartbeat. */
  last_heartbeat: number;
  rss: number | null;
  class: string;
  threads: number;
  /** gthread: app threads busy with a request; null for the other classes. */
  threads_busy: number | null;
  leaving: boolean;
}

export interface MasterStats {
  pid: number;
  version: string;
  state: string;
  started_at: string;
  uptime: number;
  worker_class: string;
  workers_target: number;
  workers_current: number;
  requests_total: number;
  worker_restarts: Record<string, number>;
  workers: WorkerStats[];
}

export class CommandError extends Error {}

const secs = (ms: number) => Math.round(ms / 100) / 10;

function count(args: unknown[]): number {
  if (args.length === 0 || args[0] === undefined) return 1;
  const n = typeof args[0] === 'number' ? args[0] : Number(args[0]);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new CommandError(`expected a number of workers from 1 to 1024, got ${JSON.stringify(args[0])}`);
  return n;
}

export class Commands {
  constructor(
    private readonly arbiter: ControlledArbiter,
    private readonly book: WorkerBook,
  ) {}

  async run(command: string, args: unknown[]): Promise<unknown> {
    const a = this.arbiter;
    switch (command) {
      case 'stats':
        await this.book.refresh(STATS_WAIT_MS);
        return this.stats();
      case 'workers': {
        await this.book.refresh(STATS_WAIT_MS);
        const workers = this.workerStats();
        return { workers, count: workers.length };
      }
      case 'reload':
        this.running('reload');
        a.logger.info('Control: reload');
        a.requestReload();
        return { reloading: true };
      case 'add': {
        this.running('add');
        const n = count(args);
        const previous = a.targetWorkers;
        a.logger.info(`Control: add ${n}`);
        const total = a.addWorkers(n);
        return { added: total - previous, previous, total };
      }
      case 'remove': {
        this.running('remove');
        const n = count(args);
        const previous = a.targetWorkers;
        a.logger.info(`Control: remove ${n}`);
        const total = a.removeWorkers(n);
        return { removed: previous - total, previous, total };
      }
      case 'reopen-logs':
        a.logger.info('Control: reopen-logs');
        a.reopenLogFiles();
        return { reopened: true };
      case 'shutdown': {
        const graceful = args[0] === 'graceful' || args[0] === true;
        a.logger.info(`Control: shutdown${graceful ? ' (graceful)' : ''}`);
        // After the answer has been written: the stop closes this socket.
        setImmediate(() => a.requestStop(graceful));
        return { stopping: true, graceful };
      }
      default:
        throw new CommandError(`unknown command ${JSON.stringify(command)}; commands: stats, workers, reload, add [N], remove [N], reopen-logs, shutdown [graceful]`);
    }
  }

  private running(what: string): void {
    if (this.arbiter.phase !== 'running') throw new CommandError(`cannot ${what} while the master is ${this.arbiter.phase}`);
  }

  workerStats(): WorkerStats[] {
    const a = this.arbiter;
    const now = Date.now();
    const s = a.currentSettings;
    return a
      .listWorkers()
      .sort((x, y) => x.age - y.age)
      .map((w) => {
        const st = this.book.state(w.pid);
        const r = st?.report ?? null;
        return {
          pid: w.pid,
          age: w.age,
          generation: w.generation,
          booted: w.booted,
          booted_at: st?.bootedAt ? new Date(st.bootedAt).toISOString() : null,
          uptime: secs(now - w.spawnedAt),
          requests: r?.served ?? null,
          in_flight: r?.inFlight ?? null,
          connections: r?.connections ?? null,
          last_heartbeat: secs(now - w.lastBeat),
          rss: r?.rss ?? null,
          class: a.workerClassName,
          threads: s.threads,
          threads_busy: r?.threadsBusy ?? null,
          leaving: w.leaving,
        };
      });
  }

  stats(): MasterStats {
    const a = this.arbiter;
    const workers = this.workerStats();
    return {
      pid: process.pid,
      version: VERSION,
      state: a.phase,
      started_at: new Date(a.startedAt).toISOString(),
      uptime: secs(Date.now() - a.startedAt),
      worker_class: a.workerClassName,
      workers_target: a.targetWorkers,
      workers_current: workers.length,
      requests_total: this.book.totals.count,
      worker_restarts: Object.fromEntries(this.book.restarts),
      workers,
    };
  }
}
