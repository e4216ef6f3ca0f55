/**
 * Slow clients: 300 connections that trickle their headers (slowloris) neither stop ordinary
 * requests nor live past --header-timeout. (The sync class serves one connection at a time by
 * design; like Gunicorn's it belongs behind a buffering proxy, so it is not run here.)
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { request } from '../helpers/edge.js';
import { trickle } from '../helpers/hostile.js';
import { FIXTURES, serve, sleep } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`;
const SLOW = 300;
const HEADER_TIMEOUT_S = 2;

/** One more header line every 500 ms, never the blank line that ends the head. */
const slowClient = (port: number) => trickle(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n', (n) => `X-Slow-${n}: y\r\n`);

describe('slowloris', { concurrency: 2, timeout: 60_000 }, () => {
  for (const cls of ['async', 'gthread'] as const) {
    test(`-k ${cls}: ${SLOW} slow connections do not stop ordinary requests and are closed within --header-timeout`, async (t) => {
      const extra = cls === 'gthread' ? ['--threads', '4'] : [];
      const { srv, port } = await serve(['-k', cls, ...extra, '-w', '1', '--header-timeout', String(HEADER_TIMEOUT_S), APP]);
      t.after(() => srv.kill());
      const clients = Array.from({ length: SLOW }, () => slowClient(port));
      t.after(() => clients.forEach((c) => c.socket.destroy()));
      await sleep(300);

      // Ordinary requests while all of them hang on: each answered, promptly.
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = Date.now();
        const r = await request({ host: '127.0.0.1', port, path: `/ok/${i}`, timeoutMs: 5000 });
        assert.equal(r.status, 200);
        latencies.push(Date.now() - t0);
        await sleep(50);
      }
      const open = clients.filter((c) => c.closed === 0).length;
      t.diagnostic(`ordinary requests with ${open} slow connections open: max ${Math.max(...latencies)} ms`);
      assert.ok(open > SLOW * 0.9, `the slow connections were still open meanwhile (${open})`);
      assert.ok(Math.max(...latencies) < 1000, `latencies ${latencies.join(',')}`);

      // Every slow connection is closed by the server within the header timeout (+ node's check interval).
      const bound = HEADER_TIMEOUT_S * 1000 + 1500;
      await Promise.race([Promise.all(clients.map((c) => c.done)), sleep(bound + 3000)]);
      const lifetimes = clients.map((c) => (c.closed ? c.closed - c.opened : Infinity));
      const worst = Math.max(...lifetimes);
      t.diagnostic(`slow connections closed after ${Math.min(...lifetimes)}..${worst} ms (header timeout ${HEADER_TIMEOUT_S} s)`);
      assert.ok(worst <= bound, `a slow connection lived ${worst} ms`);
      assert.ok(Math.min(...lifetimes) >= HEADER_TIMEOUT_S * 1000 - 100, 'not closed before the timeout');
      assert.ok(clients.every((c) => /^HTTP\/1\.1 408 /.test(c.data)), 'each got a 408');
      // And the server still serves.
      assert.equal((await request({ host: '127.0.0.1', port, path: '/after' })).status, 200);
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }
});
