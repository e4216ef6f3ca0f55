/**
 * The master's Prometheus registry (prom-client): totals over every worker, fed by the workers'
 * one-second deltas, never touched per request. prom-client formats the text exposition;
 * counters and gauges are its own classes. The request-duration histogram arrives already
 * bucketed from the workers, which prom-client's Histogram cannot take (it only observes single
 * values), so it is a small metric object of ours that the registry formats like any other.
 */
import client from 'prom-client';
import type { ControlledArbiter } from '../control/types.js';
import type { WorkerBook } from './master.js';
import { RESTART_REASONS } from './report.js';
import { DURATION_BUCKETS, slotLabels, type RequestDelta, type RequestTotals } from './requests.js';

/** A histogram whose buckets are summed elsewhere (the workers' deltas), in prom-client's metric shape. */
export class BucketedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly totals: RequestTotals,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[] } {
    const cum = this.totals.cumulative();
    const bucket = `${this.name}_bucket`;
    const values = DURATION_BUCKETS.map((le, i) => ({ metricName: bucket, labels: { le } as Record<string, string | number>, value: cum[i]! }));
    values.push({ metricName: bucket, labels: { le: '+Inf' }, value: cum[cum.length - 1]! });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.totals.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: cum[cum.length - 1]! });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export interface PromMetrics {
  registry: client.Registry;
  contentType: string;
  /** The exposition text. */
  render(): Promise<string>;
}

export function createPromMetrics(arbiter: ControlledArbiter, book: WorkerBook): PromMetrics {
  const registry = new client.Registry();

  const requests = new client.Counter({
    name: 'tsgunicorn_requests_total',
    help: 'Requests answered, over all workers, by method and status class.',
    labelNames: ['method', 'status_class'] as const,
    registers: [registry],
  });
  book.onDelta = (d: RequestDelta) => {
    for (const [slot, n] of d.c) requests.inc(slotLabels(slot), n);
  };
  // Requests counted before the registry existed (none today; kept exact if that changes).
  for (let slot = 0; slot < book.totals.counts.length; slot++) {
    const n = book.totals.counts[slot]!;
    if (n > 0) requests.inc(slotLabels(slot), n);
  }

  registry.registerMetric(
    new BucketedHistogram('tsgunicorn_request_duration_seconds', 'Time from the request reaching the app to the end of its response, seconds.', book.totals) as unknown as client.Metric,
  );

  new client.Gauge({
    name: 'tsgunicorn_in_flight_requests',
    help: 'Requests being served now, over all workers.',
    registers: [registry],
    collect() {
      this.set(book.inFlight());
    },
  });

  new client.Gauge({
    name: 'tsgunicorn_workers',
    help: 'Worker processes alive.',
    registers: [registry],
    collect() {
      this.set(arbiter.listWorkers().length);
    },
  });

  new client.Gauge({
    name: 'tsgunicorn_workers_target',
    help: 'Workers the master keeps (-w, changed by TTIN/TTOU, ctl add/remove and reload).',
    registers: [registry],
    collect() {
      this.set(arbiter.targetWorkers);
    },
  });

  const restarts = new client.Counter({
    name: 'tsgunicorn_worker_restarts_total',
    help: 'Workers replaced, by reason: exit (crashed or left on an error), timeout, max_requests, memory (killed by SIGKILL, e.g. the OOM killer), reload.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of RESTART_REASONS) restarts.inc({ reason }, book.restarts.get(reason) ?? 0);
  book.onRestart = (reason) => restarts.inc({ reason });

  new client.Gauge({
    name: 'tsgunicorn_worker_rss_bytes',
    help: 'Resident memory of each worker process, bytes (as of its last report).',
    labelNames: ['pid'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of arbiter.listWorkers()) {
        const rss = book.state(w.pid)?.report?.rss;
        if (rss !== undefined) this.set({ pid: String(w.pid) }, rss);
      }
    },
  });

  new client.Gauge({
    name: 'tsgunicorn_worker_requests_served',
    help: 'Requests each live worker has answered since it started.',
    labelNames: ['pid'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of arbiter.listWorkers()) {
        const served = book.state(w.pid)?.report?.served;
        if (served !== undefined) this.set({ pid: String(w.pid) }, served);
      }
    },
  });

  // The master's own process figures (CPU, memory, event loop), prefixed so they are not taken for the workers'.
  client.collectDefaultMetrics({ register: registry, prefix: 'tsgunicorn_master_' });

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
  };
}
