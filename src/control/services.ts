/**
 * What the master runs besides its workers, for operators: the control socket (on unless
 * `--no-control-socket`), the metrics server (`--metrics-bind`), StatsD (`--statsd-host`: the
 * workers gauge and log-line counters; requests are counted by the workers themselves), and
 * Gunicorn's debug line "N workers" whenever the number of workers changes.
 */
import { WorkerBook } from '../metrics/master.js';
import { MetricsServer } from '../metrics/http.js';
import { createPromMetrics } from '../metrics/prometheus.js';
import { parseStatsdAddress } from '../metrics/address.js';
import { StatsdClient } from '../metrics/statsd.js';
import { countLogLines } from '../metrics/worker.js';
import { Commands } from './commands.js';
import { defaultSocketPath } from './paths.js';
import { ControlServer } from './server.js';
import type { ControlledArbiter } from './types.js';

export interface MasterServices {
  /** Where the control socket listens, if it does. */
  readonly controlSocket: string | null;
  readonly metricsUrl: string | null;
  close(): Promise<void>;
}

/** Starts them; rejects only when --metrics-bind cannot be served (the operator asked for it explicitly). */
export async function startMasterServices(arbiter: ControlledArbiter, cwd = process.cwd()): Promise<MasterServices> {
  const s = arbiter.currentSettings;
  const log = arbiter.logger;
  const book = new WorkerBook(arbiter);

  let statsd: StatsdClient | null = null;
  if (s.statsd_host) {
    statsd = new StatsdClient({
      address: parseStatsdAddress(s.statsd_host),
      prefix: s.statsd_prefix,
      tags: s.dogstatsd_tags,
      onError: (m) => log.warning(m),
    });
    countLogLines(log, statsd);
  }

  let metrics: MetricsServer | null = null;
  let metricsUrl: string | null = null;
  if (s.metrics_bind) {
    metrics = new MetricsServer(arbiter, book, createPromMetrics(arbiter, book));
    try {
      metricsUrl = await metrics.listen(s.metrics_bind);
    } catch (err) {
      book.close();
      statsd?.close();
      throw new Error(`Metrics server cannot listen at ${s.metrics_bind}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    log.info(`Serving metrics at: ${metricsUrl}/metrics`);
  }

  let control: ControlServer | null = null;
  if (s.control_socket_disable) {
    log.debug('Control socket disabled');
  } else {
    const path = s.control_socket ?? defaultSocketPath(process.pid, s.pidfile, cwd);
    const server = new ControlServer(path, new Commands(arbiter, book));
    try {
      await server.listen();
      control = server;
      log.debug(`Control socket listening at ${path}`);
    } catch (err) {
      log.warning(`Failed to start control socket: ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  // Gunicorn's manage_workers: "N workers" (debug) and the gunicorn.workers gauge, when the count changes.
  let last = -1;
  const watch = setInterval(() => {
    if (arbiter.phase !== 'running') return;
    const n = arbiter.listWorkers().length;
    if (n === last) return;
    last = n;
    log.debug(`${n} workers`);
    statsd?.gauge('gunicorn.workers', n);
  }, 1000);
  watch.unref();

  return {
    controlSocket: control?.path ?? null,
    metricsUrl,
    async close() {
      clearInterval(watch);
      await Promise.all([control?.close(), metrics?.close()]);
      book.close();
      statsd?.close();
    },
  };
}
