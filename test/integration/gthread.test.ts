/**
 * gthread: real worker_threads, one request per thread, in parallel; bodies stream both ways;
 * crashed threads are replaced; a stuck thread gets its worker recycled.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, serve, sleep } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'threads.cjs')}:app`;

async function json(url: string): Promise<{ threadId: number; pid: number; start?: number; end?: number }> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return res.json() as never;
}

describe('gthread', () => {
  test('--threads > 1 with the default class selects gthread; handlers run in parallel on distinct threads', async (t) => {
    const { srv, url } = await serve(['-w', '1', '--threads', '2', APP]);
    t.after(() => srv.kill());
    await srv.waitFor(/Using worker: gthread/);
    // Warm both threads so the measurement is not a thread start.
    await Promise.all([json(`${url}/sleep?ms=200`), json(`${url}/sleep?ms=200`)]);
    const [a, b] = await Promise.all([json(`${url}/cpu?ms=600`), json(`${url}/cpu?ms=600`)]);
    assert.equal(a.pid, b.pid);
    assert.notEqual(a.threadId, b.threadId, 'both requests ran on the same thread');
    // Overlapping busy loops prove parallel JavaScript (one thread would run them back to back).
    assert.ok(a.start! < b.end! && b.start! < a.end!, `not parallel: ${JSON.stringify([a, b])}`);
    await srv.stop();
  });

  test('one request per thread: with 1 thread, requests wait their turn, none is dropped', async (t) => {
    const { srv, url } = await serve(['-k', 'gthread', '-w', '1', '--threads', '1', APP]);
    t.after(() => srv.kill());
    const t0 = Date.now();
    const all = await Promise.all([1, 2, 3].map(() => json(`${url}/sleep?ms=300`)));
    assert.equal(new Set(all.map((r) => r.threadId)).size, 1);
    assert.ok(Date.now() - t0 >= 850, `3 × 300 ms on one thread took ${Date.now() - t0} ms`);
    await srv.stop();
  });

  test('request and response bodies stream through the thread intact', async (t) => {
    const { srv, port, url } = await serve(['-k', 'gthread', '-w', '1', '--threads', '2', APP]);
    t.after(() => srv.kill());
    const body = Buffer.alloc(20 << 20);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32LE(i * 2654435761 >>> 0, i);
    const up = await new Promise<string>((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', path: '/sha1', method: 'POST' }, (res) => {
        let s = '';
        res.on('data', (c) => (s += c));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      // Chunked upload, written in pieces.
      for (let i = 0; i < body.length; i += 1 << 18) req.write(body.subarray(i, i + (1 << 18)));
      req.end();
    });
    assert.deepEqual(JSON.parse(up), { bytes: body.length, sha1: createHash('sha1').update(body).digest('hex') });

    const res = await fetch(`${url}/bytes?mb=30`);
    assert.equal(res.status, 200);
    let n = 0;
    const reader = res.body!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.byteLength;
    assert.equal(n, 30 << 20);
    await srv.stop();
  });

  test('a thread that crashes is replaced and the worker keeps serving', async (t) => {
    const { srv, url } = await serve(['-k', 'gthread', '-w', '1', '--threads', '2', APP]);
    t.after(() => srv.kill());
    const pid = (await json(url)).pid;
    const crashed = await fetch(`${url}/crash`);
    assert.equal(crashed.status, 500);
    await srv.waitFor(/App thread crashed/);
    for (let i = 0; i < 5; i++) assert.equal((await json(url)).pid, pid);
    await srv.stop();
  });

  test('a thread stuck past --timeout gets its worker recycled; the other thread finishes its request', async (t) => {
    const { srv, url } = await serve(['-k', 'gthread', '-w', '1', '--threads', '2', '-t', '2', APP]);
    t.after(() => srv.kill());
    const pid = (await json(url)).pid;
    const stuck = fetch(`${url}/loop`).then((r) => r.status, () => 'cut');
    await sleep(200);
    const other = json(`${url}/sleep?ms=1500`);
    await srv.waitFor(/WORKER TIMEOUT \(pid:\d+\): an app thread was stuck .* on GET \/loop/, 6000);
    assert.equal((await other).pid, pid, 'the request on the healthy thread was lost');
    assert.ok([500, 'cut'].includes(await stuck));
    await srv.waitFor(/Worker booted/, 8000, 2);
    assert.notEqual((await json(url)).pid, pid);
    await srv.stop();
  });
});
