/**
 * Resource bounds (issue 6): a worker whose memory grows past --max-worker-memory is recycled
 * under keep-alive load without a failed request; 10 000 idle keep-alive connections are held by
 * one worker with bounded memory (fewer where `ulimit -n` does not allow that many: the test
 * process and the worker each need a descriptor per connection).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { request } from '../helpers/edge.js';
import { Load, parseResponse, percentile } from '../helpers/load.js';
import { openFileLimit, rssBytes, socketInodes } from '../helpers/procfs.js';
import { FIXTURES, serve, sleep } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'faults', 'app.cjs')}:app`;
const MB = 1024 * 1024;
const MEMORY_LIMIT_MB = 200;
const ALLOC_MB = 20;
const RECYCLES = 2;
const IDLE_WANTED = 10_000;
/** Descriptors the test process needs besides the connections. */
const FD_SPARE = 200;
/**
 * An idle keep-alive connection measured 9 to 10 KB of worker RSS on Node 20 and 16 to 17 KB on Node 24 (the
 * socket, node:http's parser and timers); a leak per connection would be far above this bound.
 */
const MAX_KB_PER_CONNECTION = 32;

test(`--max-worker-memory: workers growing past ${MEMORY_LIMIT_MB} MB are recycled under keep-alive load without a failed request`, { timeout: 90_000 }, async (t) => {
  const { srv, port } = await serve(['-k', 'async', '-w', '2', '--max-worker-memory', String(MEMORY_LIMIT_MB), APP], { workers: 2 });
  t.after(() => srv.kill());
  const load = new Load({ port, lanes: 8, keepAlive: true, path: '/slow?ms=2' }).start();
  t.after(() => load.destroy());
  const recycled = () => (srv.output.match(/Autorestarting worker \(pid: \d+\): memory usage \d+ MB exceeds max_worker_memory/g) ?? []).length;
  let grown = 0;
  let growFailed = 0;
  const t0 = Date.now();
  // Each /alloc keeps 20 MB more in whichever worker takes it; the keep-alive load runs throughout.
  while (recycled() < RECYCLES && Date.now() - t0 < 45_000) {
    const r = await request({ host: '127.0.0.1', port, path: `/alloc?mb=${ALLOC_MB}`, timeoutMs: 10_000 }).catch(() => null);
    if (r?.status === 200) grown++;
    else growFailed++;
    await sleep(100);
  }
  await sleep(1500);
  await Promise.race([load.stop(), sleep(10_000)]);
  const now = srv.workers();
  t.diagnostic(
    `FIGURE memory: ${recycled()} workers recycled past --max-worker-memory ${MEMORY_LIMIT_MB} MB after ${grown} x ${ALLOC_MB} MB allocations; ` +
      `meanwhile ${load.ok} keep-alive requests ok, ${load.failed + growFailed} failed; worker RSS now ${now.map((p) => (rssBytes(p) / MB).toFixed(0)).join(', ')} MB`,
  );
  assert.ok(recycled() >= RECYCLES, `${recycled()} recycles in ${Date.now() - t0} ms`);
  assert.equal(load.failed, 0, load.failures.join('; '));
  assert.equal(growFailed, 0, 'an allocating request failed');
  assert.equal(now.length, 2);
  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
});

test(`${IDLE_WANTED} idle keep-alive connections held by one worker with bounded memory; ordinary requests still served`, { timeout: 120_000 }, async (t) => {
  const limit = openFileLimit();
  const n = Math.min(IDLE_WANTED, limit - FD_SPARE);
  if (n < IDLE_WANTED) t.diagnostic(`ulimit -n is ${limit}: holding ${n} connections instead of ${IDLE_WANTED}`);
  const { srv, port } = await serve(['-k', 'async', '-w', '1', '--worker-connections', String(n + 100), '--keep-alive', '120', APP]);
  t.after(() => srv.kill());
  const [worker] = srv.workers();
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));

  // Warm the worker with the kind of request each connection makes, then measure from there.
  for (let i = 0; i < 50; i++) await request({ host: '127.0.0.1', port, path: '/', agent: false });
  const rssBefore = rssBytes(worker!);
  let closedByServer = 0;
  /** One request on a new connection, then left open and idle. */
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let buf: Buffer = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const r = parseResponse(buf);
        if (r?.status === 200 && !r.close) resolve();
        else if (r) reject(new Error(`status ${r.status}, close ${r.close}`));
      });
      s.on('error', reject);
      s.on('close', () => closedByServer++);
      sockets.push(s);
    });
  const t0 = Date.now();
  for (let i = 0; i < n; i += 500) await Promise.all(Array.from({ length: Math.min(500, n - i) }, open));
  const openedMs = Date.now() - t0;
  await sleep(1000);
  const rssHeld = rssBytes(worker!);
  const held = socketInodes(worker!).size;

  // Ordinary requests while they are held.
  const latencies: number[] = [];
  for (let i = 0; i < 50; i++) {
    const s = performance.now();
    assert.equal((await request({ host: '127.0.0.1', port, path: '/', agent: false, timeoutMs: 5000 })).status, 200);
    latencies.push(performance.now() - s);
  }
  await sleep(2000);
  const perConnKb = (rssHeld - rssBefore) / 1024 / n;
  t.diagnostic(
    `FIGURE idle: ${n} keep-alive connections opened in ${openedMs} ms and held (${held} sockets in the worker, ${closedByServer} closed by the server); ` +
      `worker RSS ${(rssBefore / MB).toFixed(0)} -> ${(rssHeld / MB).toFixed(0)} MB (${perConnKb.toFixed(1)} KB per connection); ` +
      `ordinary requests meanwhile p99 ${percentile(latencies, 99).toFixed(1)} ms`,
  );
  assert.equal(closedByServer, 0, 'the server closed idle connections within --keep-alive');
  assert.ok(held >= n, `the worker holds ${held} sockets`);
  assert.ok(perConnKb < MAX_KB_PER_CONNECTION, `${perConnKb.toFixed(1)} KB per idle connection`);
  sockets.forEach((s) => s.destroy());
  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
});
