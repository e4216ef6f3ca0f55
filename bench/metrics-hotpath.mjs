#!/usr/bin/env node
// Per-request cost of request accounting in a worker, in-process (immune to wrk/loopback noise):
// tsgunicorn's typed-array tally against prom-client's Counter.inc + Histogram.observe doing the
// same bookkeeping, and the StatsD client's three metrics per request. `npm run build` first.
// Usage: node bench/metrics-hotpath.mjs [iterations]
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import client from 'prom-client';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const { RequestTally, DURATION_BUCKETS } = await import(path.join(ROOT, 'dist/src/metrics/requests.js'));
const { StatsdClient } = await import(path.join(ROOT, 'dist/src/metrics/statsd.js'));

const N = Number(process.argv[2] ?? 2_000_000);
const methods = ['GET', 'GET', 'GET', 'POST', 'HEAD'];
const statuses = [200, 200, 200, 404, 304, 500];
const durations = Array.from({ length: 1024 }, (_, i) => ((i * 7919) % 1000) / 4000);

function time(label, fn) {
  for (let i = 0; i < 200_000; i++) fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  const ns = ((performance.now() - t0) * 1e6) / N;
  return { label, ns };
}

const tally = new RequestTally();
const registry = new client.Registry();
const counter = new client.Counter({ name: 'r_total', help: 'h', labelNames: ['method', 'status_class'], registers: [registry] });
const histogram = new client.Histogram({ name: 'd_seconds', help: 'h', buckets: [...DURATION_BUCKETS], registers: [registry] });
const classOf = (s) => `${(s / 100) | 0}xx`;
// A StatsD that is not there: the datagrams go to a closed port on loopback (as cheap as it gets for the kernel).
const statsd = new StatsdClient({ address: { kind: 'udp', host: '127.0.0.1', port: 9 }, prefix: 'app', tags: '' });
const statusMetric = [];

const results = [
  time('nothing (baseline loop)', (i) => methods[i % 5].length + statuses[i % 6] + durations[i & 1023]),
  time('tsgunicorn RequestTally.record', (i) => tally.record(methods[i % 5], statuses[i % 6], durations[i & 1023])),
  time('prom-client Counter.inc(labels) + Histogram.observe', (i) => {
    counter.inc({ method: methods[i % 5], status_class: classOf(statuses[i % 6]) });
    histogram.observe(durations[i & 1023]);
  }),
  time('StatsD: timing + 2 increments (buffered)', (i) => {
    const s = statuses[i % 6];
    statsd.timing('gunicorn.request.duration', durations[i & 1023] * 1000);
    statsd.increment('gunicorn.requests');
    statsd.increment((statusMetric[s] ??= `gunicorn.request.status.${s}`));
    if ((i & 255) === 0) statsd.flush(); // the 100 ms timer, in a tight loop
  }),
];
statsd.close();
tally.take();

console.log(`\n${N} iterations each, Node ${process.version}\n`);
console.log('| bookkeeping per request | ns |');
console.log('|---|---|');
for (const r of results) console.log(`| ${r.label} | ${r.ns.toFixed(0)} |`);
