/**
 * --request-timeout under every class: a request whose answer has not started in time gets 500
 * (the app never answered), 408 (its body was still arriving) or, under gthread, 503 (it was still
 * waiting for a thread), its connection closes, and the
 * worker lives on, even when the app answers after all; an answer already under way is not cut;
 * 0 disables the limit.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { rawExchange, request } from '../helpers/edge.js';
import { trickle } from '../helpers/hostile.js';
import { FIXTURES, serve, sleep } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'faults', 'app.cjs')}:app`;
const LIMIT_MS = 1000;
/** The sweep looks every quarter of the limit (at most every second), plus scheduling slack. */
const LATE_MS = LIMIT_MS + 1000;

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await p;
  return [v, Date.now() - t0];
}

/** Reads a response that has started; resolves with what came within `ms` and whether the server closed. */
function readFor(port: number, path: string, ms: number): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    let closed = false;
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    setTimeout(() => {
      socket.destroy();
      resolve({ data, closed });
    }, ms);
  });
}

describe('--request-timeout', { concurrency: 3, timeout: 60_000 }, () => {
  for (const cls of ['sync', 'async', 'gthread'] as const) {
    test(`-k ${cls}: an unanswered request gets 500 and a slow body 408 at the limit; late answers are dropped, started answers are not cut`, async (t) => {
      const threads = cls === 'gthread' ? ['--threads', '2'] : [];
      const { srv, port } = await serve(['-k', cls, ...threads, '-w', '1', '--request-timeout', String(LIMIT_MS / 1000), APP]);
      t.after(() => srv.kill());
      const workers = srv.workers();
      const target = { host: '127.0.0.1', port };

      // The app never answers: 500 with Connection: close, then the server closes.
      const [hang, hangMs] = await timed(rawExchange(target, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n', 10_000));
      assert.match(hang, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
      assert.match(hang, /\r\nConnection: close\r\n/i);
      assert.ok(hangMs >= LIMIT_MS - 50 && hangMs <= LATE_MS, `cut after ${hangMs} ms`);
      await srv.waitFor(/\[ERROR\] Request timed out after 1s \(--request-timeout\): GET \/hang; answered 500/);

      // A body a byte at a time, never complete: 408, then closed.
      const upload = trickle(port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', () => 'x', 100);
      t.after(() => upload.socket.destroy());
      await Promise.race([upload.done, sleep(10_000)]);
      const uploadMs = upload.closed - upload.opened;
      assert.match(upload.data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.ok(upload.closed > 0 && uploadMs >= LIMIT_MS - 50 && uploadMs <= LATE_MS, `slow upload closed after ${uploadMs} ms`);

      // The app answers after the cut: the client has its 500, the late answer goes nowhere and
      // the worker serves on.
      const [late, lateMs] = await timed(request({ ...target, path: '/slow?ms=1800', timeoutMs: 10_000 }));
      assert.equal(late.status, 500);
      assert.ok(lateMs <= LATE_MS, `answered after ${lateMs} ms`);
      await sleep(1200);
      assert.equal((await request({ ...target, path: '/' })).status, 200);

      // An answer under way is the app's to finish: a stream outlives the limit.
      const drip = await readFor(port, '/drip', LIMIT_MS + 1500);
      assert.match(drip.data, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok((drip.data.match(/\.\n/g) ?? []).length >= 8, `the stream was cut: ${JSON.stringify(drip.data.slice(-200))}`);
      assert.equal(drip.closed, false, 'the server closed a stream that had started');

      assert.deepEqual(srv.workers(), workers, 'a worker was replaced');
      assert.doesNotMatch(srv.output, /Uncaught|exited with code|Error handling request/);
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }

  test('-k gthread: a request still waiting for a thread at the limit gets 503', async (t) => {
    const { srv, port } = await serve(['-k', 'gthread', '--threads', '1', '-w', '1', '--request-timeout', String(LIMIT_MS / 1000), APP]);
    t.after(() => srv.kill());
    const target = { host: '127.0.0.1', port };
    // The only thread streams an answer that has started (so --request-timeout leaves it alone)
    // for as long as its client stays; a request that is cut frees its thread at once, so a
    // cut first request would let the second one start and get 500 instead, by the sweep's phase.
    const stream = readFor(port, '/drip', LATE_MS + 1500);
    await sleep(200);
    const [second, ms] = await timed(rawExchange(target, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n', 10_000));
    assert.match(second, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.ok(ms >= LIMIT_MS - 50 && ms <= LATE_MS, `cut after ${ms} ms`);
    await srv.waitFor(/\[WARNING\] Request still waiting for a thread after 1s \(--request-timeout\): GET \/hang; answered 503/);
    const { data, closed } = await stream;
    assert.match(data, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(closed, false, 'the stream holding the thread was cut');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('--request-timeout 0 leaves a slow answer alone', async (t) => {
    const { srv, port } = await serve(['-k', 'async', '-w', '1', '--request-timeout', '0', APP]);
    t.after(() => srv.kill());
    const [r, ms] = await timed(request({ host: '127.0.0.1', port, path: '/slow?ms=1500' }));
    assert.equal(r.status, 200);
    assert.ok(ms >= 1500, `answered after ${ms} ms`);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });
});
