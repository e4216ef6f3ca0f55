/**
 * The master's book of its workers' numbers: the latest `stats` report of each live worker (for
 * `ctl stats` and the gauges), the request totals summed over every report ever received (so
 * counters survive worker restarts), and why workers were replaced. It can ask every worker for
 * a fresh report and wait for the answers, so a scrape or `ctl stats` right after a burst of
 * requests counts all of them.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { isWorkerMessage } from '../ipc.js';
import type { ControlledArbiter, WorkerExitInfo } from '../control/types.js';
import { isWorkerReport, RESTART_REASONS, type LeaveReason, type RestartReason, type WorkerReport } from './report.js';
import { RequestTotals, type RequestDelta } from './requests.js';

export interface WorkerState {
  report: WorkerReport | null;
  reportAt: number;
  bootedAt: number | null;
  leaving?: LeaveReason;
}

/** Why a worker that exited was replaced, or null when it was not a replacement (scale-down, stop). */
export function restartReason(info: WorkerExitInfo, declared: LeaveReason | undefined): RestartReason | null {
  if (info.stopping) return null;
  if (info.timedOut || declared === 'timeout') return 'timeout';
  if (declared === 'max_requests') return 'max_requests';
  if (declared === 'memory') return 'memory';
  if (declared === 'error') return 'exit';
  // The kernel's OOM killer sends SIGKILL; the master's own kills were counted as timeouts above.
  if (info.signal === 'SIGKILL') return 'memory';
  if (info.reloaded) return 'reload';
  // Retired by the master (TTOU, ctl remove): the pool shrank, nothing was replaced.
  if (info.leaving && !info.signal && !info.code) return null;
  return 'exit';
}

export class WorkerBook {
  readonly totals = new RequestTotals();
  readonly restarts = new Map<RestartReason, number>(RESTART_REASONS.map((r) => [r, 0]));
  private readonly states = new Map<number, WorkerState>();
  private waiters = new Map<number, (() => void)[]>();
  /** Called with each delta as it arrives (the Prometheus counters). */
  onDelta: ((d: RequestDelta) => void) | null = null;
  onRestart: ((reason: RestartReason) => void) | null = null;
  private readonly listener = (worker: ClusterWorker, msg: unknown) => this.onMessage(worker, msg);

  constructor(private readonly arbiter: ControlledArbiter) {
    cluster.on('message', this.listener);
    const previous = arbiter.onWorkerExit;
    arbiter.onWorkerExit = (info) => {
      previous?.(info);
      this.onExit(info);
    };
  }

  close(): void {
    cluster.off('message', this.listener);
  }

  state(pid: number): WorkerState | undefined {
    return this.states.get(pid);
  }

  private stateOf(pid: number): WorkerState {
    let s = this.states.get(pid);
    if (!s) this.states.set(pid, (s = { report: null, reportAt: 0, bootedAt: null }));
    return s;
  }

  private onMessage(worker: ClusterWorker, msg: unknown): void {
    if (!isWorkerMessage(msg)) return;
    const pid = worker.process.pid;
    if (pid === undefined) return;
    if (msg.t === 'booted') {
      this.stateOf(pid).bootedAt = Date.now();
    } else if (msg.t === 'stats' && isWorkerReport(msg.report)) {
      const r = msg.report;
      // Deltas count whatever happens to the worker: a late last report still adds up.
      if (r.delta) {
        this.totals.add(r.delta);
        this.onDelta?.(r.delta);
      }
      if (!worker.isDead()) {
        const s = this.stateOf(pid);
        s.report = r;
        s.reportAt = Date.now();
        if (r.leaving) s.leaving = r.leaving;
      }
      const ws = this.waiters.get(pid);
      if (ws) {
        this.waiters.delete(pid);
        for (const w of ws) w();
      }
    }
  }

  private onExit(info: WorkerExitInfo): void {
    const declared = this.states.get(info.pid)?.leaving;
    this.states.delete(info.pid);
    const ws = this.waiters.get(info.pid);
    this.waiters.delete(info.pid);
    for (const w of ws ?? []) w();
    const reason = restartReason(info, declared);
    if (reason) {
      this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
      this.onRestart?.(reason);
    }
  }

  /** Asks every live worker for a report now; resolves when all answered or after `ms`. */
  refresh(ms: number): Promise<void> {
    const asks: Promise<void>[] = [];
    for (const w of this.arbiter.listWorkers()) {
      if (!w.worker.isConnected()) continue;
      asks.push(
        new Promise<void>((resolve) => {
          const list = this.waiters.get(w.pid) ?? [];
          list.push(resolve);
          this.waiters.set(w.pid, list);
          try {
            // A worker on its way out answers nothing: don't wait for it.
            w.worker.send({ t: 'stats?' }, (err: Error | null) => err && resolve());
          } catch {
            resolve();
          }
        }),
      );
    }
    if (asks.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((r) => (timer = setTimeout(r, ms)));
    return Promise.race([Promise.all(asks).then(() => undefined), limit]).finally(() => clearTimeout(timer));
  }

  /** Sum of the live workers' requests in flight. */
  inFlight(): number {
    let n = 0;
    for (const w of this.arbiter.listWorkers()) n += this.states.get(w.pid)?.report?.inFlight ?? 0;
    return n;
  }
}
