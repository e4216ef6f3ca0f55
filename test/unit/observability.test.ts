/**
 * The pure parts of logs, metrics and control: StatsD lines and datagrams, addresses, request
 * tallies and totals, restart reasons, the Prometheus histogram exposition, the control-socket
 * path rules, ctl's table, and the settings' flags.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import client from 'prom-client';
import { formatBytes, formatDuration, table } from '../../src/cli-ctl.js';
import { parseArgs } from '../../src/config/cli-options.js';
import { defaults } from '../../src/config/settings.js';
import { defaultSocketPath, socketName } from '../../src/control/paths.js';
import { ConfigError } from '../../src/errors.js';
import { accessJson, type AccessRecord } from '../../src/log/access-format.js';
import { dogstatsdTagsSetting, metricsBindSetting, parseMetricsAddress, parseStatsdAddress, statsdHostSetting } from '../../src/metrics/address.js';
import { restartReason } from '../../src/metrics/master.js';
import { BucketedHistogram } from '../../src/metrics/prometheus.js';
import { DURATION_BUCKETS, RequestTally, RequestTotals, bucketIndex, methodIndex, slotLabels, statusClassIndex } from '../../src/metrics/requests.js';
import { StatsdClient, formatMs, normalizePrefix, packDatagrams, statsdLine } from '../../src/metrics/statsd.js';

describe('StatsD', () => {
  test("prefixes as Gunicorn's: one trailing dot", () => {
    assert.equal(normalizePrefix(''), '');
    assert.equal(normalizePrefix('app'), 'app.');
    assert.equal(normalizePrefix('app.'), 'app.');
    assert.equal(normalizePrefix('a.b...'), 'a.b.');
  });

  test("lines in Gunicorn's format: counters with @1.0, timers in ms, gauges, DogStatsD tags last", () => {
    assert.equal(statsdLine('', 'gunicorn.requests', 1, 'c'), 'gunicorn.requests:1|c|@1.0');
    assert.equal(statsdLine('app.', 'gunicorn.request.duration', '12.5', 'ms'), 'app.gunicorn.request.duration:12.5|ms');
    assert.equal(statsdLine('', 'gunicorn.workers', 4, 'g', 'env:prod,svc:api'), 'gunicorn.workers:4|g|#env:prod,svc:api');
    assert.equal(statsdLine('x.', 'gunicorn.log.error', 2, 'c', 't'), 'x.gunicorn.log.error:2|c|@1.0|#t');
    assert.equal(formatMs(12.3456789), '12.346');
    assert.equal(formatMs(3), '3');
    assert.equal(formatMs(12.3), '12.300');
    assert.equal(formatMs(0.0405), '0.041');
    assert.equal(formatMs(1.002), '1.002');
  });

  test('datagrams hold whole lines, at most the limit, in order', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `gunicorn.request.duration:${i}.125|ms`);
    const packs = packDatagrams(lines, 200);
    assert.ok(packs.length > 1);
    for (const p of packs) assert.ok(Buffer.byteLength(p) <= 200, p);
    assert.deepEqual(packs.join('\n').split('\n'), lines);
    assert.deepEqual(packDatagrams(['x'.repeat(300)], 200), ['x'.repeat(300)]);
    assert.deepEqual(packDatagrams([]), []);
  });

  test('the client sums counters, keeps every timing, and sends over UDP with prefix and tags', async (t) => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    t.after(() => udp.close());
    const got: string[] = [];
    udp.on('message', (m) => got.push(...m.toString().split('\n')));
    const sd = new StatsdClient({ address: { kind: 'udp', host: '127.0.0.1', port: udp.address().port }, prefix: 'svc', tags: 'a:b' });
    for (let i = 0; i < 3; i++) sd.increment('gunicorn.requests');
    sd.timing('gunicorn.request.duration', 1.5);
    sd.timing('gunicorn.request.duration', 2);
    sd.gauge('gunicorn.workers', 3);
    sd.flush();
    const t0 = Date.now();
    while (got.length < 4 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    sd.close();
    assert.deepEqual(got.sort(), [
      'svc.gunicorn.request.duration:1.500|ms|#a:b',
      'svc.gunicorn.request.duration:2|ms|#a:b',
      'svc.gunicorn.requests:3|c|@1.0|#a:b',
      'svc.gunicorn.workers:3|g|#a:b',
    ]);
  });
});

test('StatsD over a unix datagram socket (unix:PATH), with the optional unix-dgram package', async (t) => {
  let unix: { createSocket(type: 'unix_dgram', onMessage: (b: Buffer) => void): { bind(p: string): void; close(): void } };
  try {
    unix = createRequire(import.meta.url)('unix-dgram') as typeof unix;
  } catch {
    return t.skip('unix-dgram is not installed here');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsg-statsd-'));
  const sockPath = path.join(dir, 'statsd.sock');
  const got: string[] = [];
  const server = unix.createSocket('unix_dgram', (b) => got.push(...b.toString().split('\n')));
  server.bind(sockPath);
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sd = new StatsdClient({ address: { kind: 'unix', path: sockPath }, prefix: '', tags: '' });
  sd.increment('gunicorn.requests', 2);
  sd.flush();
  const t0 = Date.now();
  while (got.length < 1 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  sd.close();
  assert.deepEqual(got, ['gunicorn.requests:2|c|@1.0']);
});

describe('addresses', () => {
  test('--statsd-host: HOST:PORT, HOST alone (8125), [v6]:PORT, unix:PATH', () => {
    assert.deepEqual(parseStatsdAddress('localhost'), { kind: 'udp', host: 'localhost', port: 8125 });
    assert.deepEqual(parseStatsdAddress('10.0.0.1:9125'), { kind: 'udp', host: '10.0.0.1', port: 9125 });
    assert.deepEqual(parseStatsdAddress('[::1]:8126'), { kind: 'udp', host: '::1', port: 8126 });
    assert.deepEqual(parseStatsdAddress('[::1]'), { kind: 'udp', host: '::1', port: 8125 });
    assert.deepEqual(parseStatsdAddress('unix:/run/statsd.sock'), { kind: 'unix', path: '/run/statsd.sock' });
    assert.deepEqual(parseStatsdAddress('unix:///run/statsd.sock'), { kind: 'unix', path: '/run/statsd.sock' });
    assert.throws(() => statsdHostSetting('fd://3', 'statsd_host'), /Invalid value for statsd_host: "fd:\/\/3"/);
    assert.throws(() => statsdHostSetting('host:99999', 'statsd_host'), (e: unknown) => e instanceof ConfigError && /statsd_host.*port/.test(e.message));
    assert.equal(statsdHostSetting(null, 'statsd_host'), null);
  });

  test('--metrics-bind needs a port', () => {
    assert.deepEqual(parseMetricsAddress('127.0.0.1:9100'), { kind: 'tcp', host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseMetricsAddress('unix:/run/m.sock'), { kind: 'unix', path: '/run/m.sock' });
    assert.throws(() => metricsBindSetting('127.0.0.1', 'metrics_bind'), /metrics_bind.*a port is required/);
  });

  test('--dogstatsd-tags cannot break the datagram', () => {
    assert.equal(dogstatsdTagsSetting(' env:prod,team:web ', 'dogstatsd_tags'), 'env:prod,team:web');
    assert.throws(() => dogstatsdTagsSetting('a|b', 'dogstatsd_tags'), ConfigError);
    assert.throws(() => dogstatsdTagsSetting('a b', 'dogstatsd_tags'), ConfigError);
  });
});

describe('request accounting', () => {
  test('methods, status classes and buckets map onto small fixed label sets', () => {
    assert.equal(methodIndex('GET'), 0);
    assert.equal(slotLabels(methodIndex('PROPFIND') * 6 + statusClassIndex(200)).method, 'other');
    assert.deepEqual(slotLabels(methodIndex('POST') * 6 + statusClassIndex(404)), { method: 'POST', status_class: '4xx' });
    assert.equal(slotLabels(statusClassIndex(101)).status_class, '1xx');
    assert.equal(slotLabels(statusClassIndex(599)).status_class, '5xx');
    assert.equal(slotLabels(statusClassIndex(700)).status_class, 'other');
    assert.equal(bucketIndex(0), 0);
    assert.equal(bucketIndex(0.005), 0, 'le is inclusive');
    assert.equal(bucketIndex(0.0051), 1);
    assert.equal(bucketIndex(10), DURATION_BUCKETS.length - 1);
    assert.equal(bucketIndex(11), DURATION_BUCKETS.length, '+Inf');
  });

  test('a tally hands out deltas that the master adds up', () => {
    const tally = new RequestTally();
    assert.equal(tally.take(), null);
    tally.record('GET', 200, 0.002);
    tally.record('GET', 200, 0.3);
    tally.record('POST', 503, 20);
    const d1 = tally.take()!;
    assert.equal(tally.take(), null, 'taken deltas start afresh');
    tally.record('GET', 200, 0.002);
    const d2 = tally.take()!;

    const totals = new RequestTotals();
    // Deltas cross IPC as JSON.
    totals.add(JSON.parse(JSON.stringify(d1)));
    totals.add(JSON.parse(JSON.stringify(d2)));
    assert.equal(totals.count, 4);
    assert.equal(totals.counts[methodIndex('GET') * 6 + statusClassIndex(200)], 3);
    assert.equal(totals.counts[methodIndex('POST') * 6 + statusClassIndex(503)], 1);
    assert.ok(Math.abs(totals.sum - 20.304) < 1e-9);
    const cum = totals.cumulative();
    assert.equal(cum[0], 2);
    assert.equal(cum[bucketIndex(0.3)], 3);
    assert.equal(cum[DURATION_BUCKETS.length - 1], 3);
    assert.equal(cum[DURATION_BUCKETS.length], 4);
    // Junk from a confused worker is ignored, not summed.
    totals.add({ c: [[999, 5], [0, Number.NaN]], b: [], s: Number.NaN });
    assert.equal(totals.count, 4);
  });

  test('restart reasons', () => {
    const base = { pid: 1, booted: true, code: 0, signal: null, timedOut: false, reloaded: false, leaving: false, stopping: false };
    assert.equal(restartReason({ ...base, stopping: true, code: 1 }, undefined), null, 'a stopping master replaces nobody');
    assert.equal(restartReason({ ...base, timedOut: true, signal: 'SIGKILL' }, undefined), 'timeout');
    assert.equal(restartReason({ ...base, leaving: true }, 'max_requests'), 'max_requests');
    assert.equal(restartReason({ ...base, leaving: true }, 'timeout'), 'timeout', 'gthread recycles after a stuck thread');
    assert.equal(restartReason({ ...base, signal: 'SIGKILL' }, undefined), 'memory');
    assert.equal(restartReason({ ...base, reloaded: true, leaving: true }, undefined), 'reload');
    assert.equal(restartReason({ ...base, leaving: true }, undefined), null, 'TTOU: nothing replaced');
    assert.equal(restartReason({ ...base, code: 1 }, undefined), 'exit');
    assert.equal(restartReason({ ...base, leaving: true, code: 1 }, 'error'), 'exit');
  });

  test('the pre-bucketed histogram is exposed by prom-client in the text format', async () => {
    const totals = new RequestTotals();
    const tally = new RequestTally();
    tally.record('GET', 200, 0.003);
    tally.record('GET', 200, 0.2);
    tally.record('GET', 200, 60);
    totals.add(tally.take()!);
    const registry = new client.Registry();
    registry.registerMetric(new BucketedHistogram('x_seconds', 'Help text.', totals) as unknown as client.Metric);
    const text = await registry.metrics();
    assert.equal(
      text,
      [
        '# HELP x_seconds Help text.',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{le="0.005"} 1',
        'x_seconds_bucket{le="0.01"} 1',
        'x_seconds_bucket{le="0.025"} 1',
        'x_seconds_bucket{le="0.05"} 1',
        'x_seconds_bucket{le="0.1"} 1',
        'x_seconds_bucket{le="0.25"} 2',
        'x_seconds_bucket{le="0.5"} 2',
        'x_seconds_bucket{le="1"} 2',
        'x_seconds_bucket{le="2.5"} 2',
        'x_seconds_bucket{le="5"} 2',
        'x_seconds_bucket{le="10"} 2',
        'x_seconds_bucket{le="+Inf"} 3',
        'x_seconds_sum 60.203',
        'x_seconds_count 3',
        '',
      ].join('\n'),
    );
  });
});

describe('access log as JSON', () => {
  test("the format's fields, named, numbers as numbers, absent values as null", () => {
    const rec: AccessRecord = {
      remoteAddress: '10.0.0.9',
      method: 'POST',
      target: '/a%20b?x=1',
      httpVersion: '1.1',
      status: 201,
      bytesSent: 12,
      requestHeaders: { 'user-agent': 'curl/8', authorization: `Basic ${Buffer.from('ann:pw').toString('base64')}` },
      responseHeaders: {},
      startTime: new Date('2026-01-02T03:04:05.000Z'),
      durationNs: 1_250_000n,
      pid: 7,
      env: {},
    };
    assert.deepEqual(accessJson(rec), {
      remote_addr: '10.0.0.9',
      user: 'ann',
      request: 'POST /a%20b?x=1 HTTP/1.1',
      method: 'POST',
      path: '/a b',
      query: 'x=1',
      protocol: 'HTTP/1.1',
      status: 201,
      bytes: 12,
      referer: null,
      user_agent: 'curl/8',
      request_time_us: 1250,
      request_time: 0.00125,
      time: '2026-01-02T03:04:05.001Z',
    });
  });
});

describe('control', () => {
  test('the default socket: beside the pidfile, else in $XDG_RUNTIME_DIR, else the temp directory; named after the master', () => {
    assert.equal(socketName(42), 'tsgunicorn-42.ctl');
    assert.equal(defaultSocketPath(42, 'run/app.pid', '/srv/app', {}), '/srv/app/run/tsgunicorn-42.ctl');
    assert.equal(defaultSocketPath(42, '/run/app/app.pid', '/x', { XDG_RUNTIME_DIR: os.tmpdir() }), '/run/app/tsgunicorn-42.ctl');
    assert.equal(defaultSocketPath(42, null, '/x', { XDG_RUNTIME_DIR: os.tmpdir() }), path.join(os.tmpdir(), 'tsgunicorn-42.ctl'));
    assert.equal(defaultSocketPath(42, null, '/x', { XDG_RUNTIME_DIR: '/nonexistent/dir' }), path.join(os.tmpdir(), 'tsgunicorn-42.ctl'));
  });

  test('--control-socket PATH and --no-control-socket are two settings, as in Gunicorn', () => {
    assert.deepEqual(parseArgs(['--control-socket', '/tmp/x.ctl', 'app:x']).values, { control_socket: '/tmp/x.ctl' });
    assert.deepEqual(parseArgs(['--no-control-socket', 'app:x']).values, { control_socket_disable: true });
    assert.deepEqual(parseArgs(['app:x']).values, {});
    const d = defaults({});
    assert.equal(d.control_socket, null);
    assert.equal(d.control_socket_disable, false);
    assert.deepEqual(
      parseArgs(['--statsd-host', 'localhost:8125', '--statsd-prefix', 'p', '--dogstatsd-tags', 'a:b', '--metrics-bind', '127.0.0.1:9100', '--log-json', '--access-log-json', '--capture-output', 'app:x']).values,
      { statsd_host: 'localhost:8125', statsd_prefix: 'p', dogstatsd_tags: 'a:b', metrics_bind: '127.0.0.1:9100', log_json: true, access_log_json: true, capture_output: true },
    );
  });

  test("ctl's readable output", () => {
    assert.equal(formatBytes(null), '-');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(68_927_488), '65.7 MiB');
    assert.equal(formatDuration(5.25), '5.3s');
    assert.equal(formatDuration(125), '2m05s');
    assert.equal(formatDuration(3 * 3600 + 60), '3h01m');
    assert.equal(formatDuration(50 * 3600), '2d02h');
    assert.equal(
      table([
        ['PID', 'REQUESTS', 'CLASS'],
        ['12345', '7', 'sync'],
      ]),
      'PID    REQUESTS  CLASS\n12345  7         sync',
    );
  });
});
