// The scenarios, their contenders, and the targets judged from their medians.
import { c } from './contenders.mjs';
import { ratio } from './stats.mjs';

const HELLO_SET = () => [
  c('tsg-async'),
  c('tsg-sync'),
  c('tsg-gthread', { threads: 4 }),
  c('bare-rr'),
  c('bare-none'),
  c('pm2'),
  c('gunicorn-sync'),
  c('gunicorn-gthread', { threads: 4 }),
  c('gunicorn-gevent'),
];

function withWrk(entry, wrk) {
  return { ...entry, wrk };
}

/**
 * kind: 'throughput' (req/s), 'mixed' (hello p99 under a mixed load), 'memory' (VmRSS after load).
 * wrk: defaults for every contender; a contender's own `wrk` overrides them.
 * reference: contender id the "×" column divides by.
 */
export const SCENARIOS = [
  {
    id: 'keepalive',
    title: 'Keep-alive, hello world',
    describe: 'wrk -t2 -c50, HTTP/1.1 keep-alive; 2 workers each (sync closes after every response, as Gunicorn sync does)',
    kind: 'throughput',
    wrk: { connections: 50, path: '/' },
    reference: 'bare-rr',
    contenders: HELLO_SET,
  },
  {
    id: 'newconn',
    title: 'New connection per request, hello world',
    describe: 'wrk -t2 -c50 -H "Connection: close": a TCP connection per request, as nginx proxy_pass by default',
    kind: 'throughput',
    wrk: { connections: 50, path: '/', headers: ['Connection: close'] },
    reference: 'bare-none',
    contenders: HELLO_SET,
  },
  {
    id: 'io',
    title: '100 ms I/O handler',
    describe: 'GET /io/100 (a 100 ms timer; time.sleep for Gunicorn, cooperative under gevent); 2 workers; wrk --timeout 10s',
    kind: 'throughput',
    wrk: { path: '/io/100', timeoutS: 10 },
    expected: { 'tsg-sync': 20, 'tsg-gthread-t10': 200, 'tsg-async': 2000, 'gunicorn-sync': 20, 'gunicorn-gthread-t10': 200, 'gunicorn-gevent': 2000 },
    contenders: () => [
      withWrk(c('tsg-sync'), { connections: 20 }),
      withWrk(c('tsg-gthread', { threads: 10 }), { connections: 200 }),
      withWrk(c('tsg-async'), { connections: 200 }),
      withWrk(c('gunicorn-sync'), { connections: 20 }),
      withWrk(c('gunicorn-gthread', { threads: 10 }), { connections: 200 }),
      withWrk(c('gunicorn-gevent'), { connections: 200 }),
    ],
  },
  {
    id: 'cpu',
    title: '20 ms CPU handler, one worker, 1 vs 2 threads',
    describe: 'GET /cpu/20 (a fixed, calibrated amount of work, not a clock spin); -w 1; wrk -t2 -c8 --timeout 10s',
    kind: 'throughput',
    wrk: { connections: 8, path: '/cpu/20', timeoutS: 10 },
    pairs: [
      ['tsg-gthread-t2', 'tsg-gthread-t1'],
      ['gunicorn-gthread-t2', 'gunicorn-gthread-t1'],
    ],
    contenders: () => [
      c('tsg-gthread', { workers: 1, threads: 1 }),
      c('tsg-gthread', { workers: 1, threads: 2 }),
      c('gunicorn-gthread', { workers: 1, threads: 1 }),
      c('gunicorn-gthread', { workers: 1, threads: 2 }),
    ],
  },
  {
    id: 'mixed',
    title: 'Mixed load: 95 % hello, 5 % 50 ms CPU',
    describe: 'wrk -t2 -c50 keep-alive, bench/scripts/mixed.lua picks GET / or GET /cpu/50 per request and times each kind; figure: p99 of the hello requests',
    kind: 'mixed',
    wrk: { connections: 50, path: '/', mixed: { fraction: 0.05, slowPath: '/cpu/50' } },
    reference: 'bare-rr',
    contenders: () => [c('tsg-async'), c('tsg-gthread', { threads: 4 }), c('tsg-sync'), c('bare-rr'), c('bare-none'), c('pm2')],
  },
  {
    id: 'memory',
    title: 'Memory (VmRSS after load)',
    describe: 'each contender is loaded (wrk -t2 -c50 keep-alive, hello) for a round, then VmRSS of the master and of each worker is read from /proc; median of rounds',
    kind: 'memory',
    wrk: { connections: 50, path: '/' },
    threadCost: [
      ['tsg-gthread-t8', 'tsg-gthread-t1', 7],
      ['gunicorn-gthread-t8', 'gunicorn-gthread-t1', 7],
    ],
    contenders: () => [
      c('tsg-async'),
      c('tsg-sync'),
      c('tsg-gthread', { threads: 1 }),
      c('tsg-gthread', { threads: 8 }),
      c('bare-rr'),
      c('bare-none'),
      c('pm2'),
      c('gunicorn-sync'),
      c('gunicorn-gthread', { threads: 1 }),
      c('gunicorn-gthread', { threads: 8 }),
      c('gunicorn-gevent'),
    ],
  },
];

// ---- targets ----------------------------------------------------------------------------------

const rps = (res, sc, id) => res[sc]?.contenders?.[id]?.median?.rps ?? null;
const helloP99 = (res, sc, id) => res[sc]?.contenders?.[id]?.median?.helloP99 ?? null;

function atLeast(scenario, text, num, den, min, denLabel) {
  return {
    scenario,
    text,
    judge(res) {
      const d = typeof den === 'function' ? den(res) : { value: rps(res, scenario, den), label: denLabel };
      const r = ratio(rps(res, scenario, num), d.value);
      if (r === null) return { measured: 'not measured', met: null };
      return { measured: `${r.toFixed(2)}×${d.label ? ` (vs ${d.label})` : ''}`, met: r >= min };
    },
  };
}

function bestBare(res) {
  const rr = rps(res, 'keepalive', 'bare-rr');
  const none = rps(res, 'keepalive', 'bare-none');
  if (rr === null && none === null) return { value: null };
  return (none ?? -1) > (rr ?? -1) ? { value: none, label: 'SCHED_NONE, the faster bare mode' } : { value: rr, label: 'round-robin, the faster bare mode' };
}

function within(scenario, id, expected, tolerance, text) {
  return {
    scenario,
    text,
    judge(res) {
      const v = rps(res, scenario, id);
      if (v === null) return { measured: 'not measured', met: null };
      const dev = v / expected - 1;
      return { measured: `${v.toFixed(1)} req/s (${dev >= 0 ? '+' : ''}${(dev * 100).toFixed(1)} %)`, met: Math.abs(dev) <= tolerance };
    },
  };
}

function lowerP99(scenario, id, ref, text) {
  return {
    scenario,
    text,
    judge(res) {
      const a = helloP99(res, scenario, id);
      const b = helloP99(res, scenario, ref);
      if (a === null || b === null) return { measured: 'not measured', met: null };
      return { measured: `${a.toFixed(1)} ms vs ${b.toFixed(1)} ms`, met: a < b };
    },
  };
}

export const TARGETS = [
  atLeast('keepalive', 'async ≥ 0.95 × bare node:cluster', 'tsg-async', bestBare, 0.95),
  atLeast('keepalive', 'async ≥ 1.0 × PM2', 'tsg-async', 'pm2', 1.0),
  atLeast('keepalive', 'async ≥ 3 × Gunicorn gevent', 'tsg-async', 'gunicorn-gevent', 3.0),
  atLeast('newconn', 'async ≥ 0.9 × bare SCHED_NONE', 'tsg-async', 'bare-none', 0.9),
  atLeast('newconn', 'async ≥ 1.8 × PM2', 'tsg-async', 'pm2', 1.8),
  atLeast('newconn', 'sync ≥ 1.0 × Gunicorn sync', 'tsg-sync', 'gunicorn-sync', 1.0),
  within('io', 'tsg-sync', 20, 0.15, 'sync -w 2: 20 req/s ± 15 %'),
  within('io', 'tsg-gthread-t10', 200, 0.15, 'gthread -w 2 --threads 10: 200 req/s ± 15 %'),
  within('io', 'tsg-async', 2000, 0.15, 'async -w 2, 200 clients: 2000 req/s ± 15 %'),
  atLeast('cpu', 'gthread -w 1: threads=2 ≥ 1.7 × threads=1', 'tsg-gthread-t2', 'tsg-gthread-t1', 1.7),
  {
    scenario: 'cpu',
    text: 'Gunicorn gthread: threads=2 ≈ 1.0 × threads=1 (the GIL; expectation, 0.8–1.25)',
    judge(res) {
      const r = ratio(rps(res, 'cpu', 'gunicorn-gthread-t2'), rps(res, 'cpu', 'gunicorn-gthread-t1'));
      if (r === null) return { measured: 'not measured', met: null };
      return { measured: `${r.toFixed(2)}×`, met: r >= 0.8 && r <= 1.25 };
    },
  },
  lowerP99('mixed', 'tsg-gthread-t4', 'bare-rr', 'gthread --threads 4: hello p99 < bare round-robin'),
  lowerP99('mixed', 'tsg-async', 'bare-rr', 'async: hello p99 < bare round-robin'),
];
