/**
 * A worker's side of logs, metrics and control: it counts the requests it serves (for
 * `tsgunicorn ctl stats` and the master's Prometheus totals), sends Gunicorn's StatsD metrics,
 * counts error-log lines for StatsD, and captures the app's output (`--capture-output`).
 *
 * Per request it costs a start time, one `close` listener and a few array increments; nothing
 * crosses to the master per request. The master gets a `stats` report every REPORT_MS, when it
 * asks (ctl stats, a /metrics scrape), when the worker decides to leave, and at exit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Settings } from '../config/settings.js';
import type { MasterMessage, WorkerMessage } from '../ipc.js';
import { OutputCapture } from '../log/capture.js';
import type { Logger } from '../log/logger.js';
import { parseStatsdAddress } from './address.js';
import type { LeaveReason, WorkerReport } from './report.js';
import { RequestTally } from './requests.js';
import { StatsdClient } from './statsd.js';

export const REPORT_MS = 1000;

export interface TelemetryOptions {
  settings: Settings;
  log: Logger;
  /** The worker class's current load (connections, and for gthread the busy threads); null before it exists. */
  load: () => { connections: number; requests: number } | null;
  /** gthread: `load().requests` counts busy threads. */
  threaded: boolean;
}

/** Whether a worker needs request accounting at all: something must read it. */
export function telemetryWanted(s: Settings): boolean {
  return !s.control_socket_disable || s.metrics_bind !== null || s.statsd_host !== null;
}

const STATUS_METRIC: string[] = [];
const statusMetric = (status: number) => (STATUS_METRIC[status] ??= `gunicorn.request.status.${status}`);

export class WorkerTelemetry {
  private served = 0;
  /** Requests started and not yet ended (the worker counts them in). */
  inFlight = 0;
  private readonly tally = new RequestTally();
  private readonly statsd: StatsdClient | null = null;
  private readonly capture: OutputCapture | null = null;
  private leaving: LeaveReason | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: TelemetryOptions) {
    const { settings: s, log } = opts;
    if (s.statsd_host) {
      this.statsd = new StatsdClient({
        address: parseStatsdAddress(s.statsd_host),
        prefix: s.statsd_prefix,
        tags: s.dogstatsd_tags,
        onError: (m) => log.warning(m),
      });
      countLogLines(log, this.statsd);
    }
    if (s.capture_output && s.errorlog !== '-') {
      try {
        this.capture = new OutputCapture(s.errorlog, s.log_json);
        this.capture.install();
      } catch (err) {
        log.error(`Could not capture the app's output in ${s.errorlog}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    process.on('SIGUSR1', () => this.capture?.reopen());
    process.on('message', (msg: MasterMessage) => {
      if (msg?.t === 'stats?') this.sendReport();
    });
    this.timer = setInterval(() => this.sendReport(), REPORT_MS);
    this.timer.unref();
  }

  /** A request's response is done (its 'close'), `ms` after the app was given it. */
  readonly ended = (req: IncomingMessage, res: ServerResponse, ms: number): void => {
    this.inFlight--;
    this.served++;
    // A response cut short (client gone, app failure mid-body) is not an answered request.
    if (!res.writableFinished) return;
    this.tally.record(req.method, res.statusCode, ms / 1000);
    const sd = this.statsd;
    if (sd) {
      sd.timing('gunicorn.request.duration', ms);
      sd.increment('gunicorn.requests');
      sd.increment(statusMetric(res.statusCode));
    }
  };

  /** The worker decided to leave on its own: tell the master why, now. */
  leave(reason: LeaveReason): void {
    this.leaving ??= reason;
    this.sendReport();
  }

  report(): WorkerReport {
    const load = this.opts.load();
    return {
      served: this.served,
      inFlight: this.inFlight,
      connections: load?.connections ?? 0,
      threadsBusy: this.opts.threaded ? (load?.requests ?? 0) : null,
      rss: process.memoryUsage.rss(),
      delta: this.tally.take(),
      leaving: this.leaving,
    };
  }

  /** Resolves once the report is handed to the IPC channel (or could not be). */
  sendReport(): Promise<void> {
    if (!process.connected || !process.send) return Promise.resolve();
    const msg: WorkerMessage = { t: 'stats', report: this.report() };
    return new Promise((resolve) => {
      try {
        process.send!(msg, undefined, undefined, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** At exit: the last report (what was served since the previous one) and the last metrics. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.statsd?.close();
    this.capture?.flush();
    await Promise.race([this.sendReport(), new Promise((r) => setTimeout(r, 200).unref())]);
  }
}

/** Gunicorn's Statsd logger counts warning, error, critical and exception lines. */
function countLogLines(log: Logger, statsd: StatsdClient): void {
  for (const level of ['warning', 'error', 'critical', 'exception'] as const) {
    const orig = log[level] as (...a: unknown[]) => void;
    (log as unknown as Record<string, unknown>)[level] = (...args: unknown[]) => {
      orig(...args);
      statsd.increment(`gunicorn.log.${level}`);
    };
  }
}

export function startWorkerTelemetry(opts: TelemetryOptions): WorkerTelemetry | null {
  const s = opts.settings;
  if (!telemetryWanted(s) && !(s.capture_output && s.errorlog !== '-')) return null;
  return new WorkerTelemetry(opts);
}

export { countLogLines };
