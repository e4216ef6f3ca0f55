/**
 * gthread: real worker_threads, one request per thread, in parallel; bodies stream both ways;
 * crashed threads are replaced; a stuck thread gets its worker recycled, a merely long request does
 * not; a slow small body holds no thread; a client pipelining without reading is not read past 16
 * requests.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { rssBytes } from '../helpers/procfs.js';
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

  test('a small body arriving slowly holds no thread: the only thread serves others meanwhile, then gets the whole body', async (t) => {
    const { srv, port, url } = await serve(['-k', 'gthread', '-w', '1', '--threads', '1', APP]);
    t.after(() => srv.kill());
    let answer = '';
    const upload = net.connect({ host: '127.0.0.1', port }, () => upload.write('POST /sha1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde'));
    t.after(() => upload.destroy());
    upload.on('data', (d: Buffer) => (answer += d.toString()));
    await sleep(300);
    const t0 = Date.now();
    await json(`${url}/sleep?ms=1`);
    const waited = Date.now() - t0;
    assert.ok(waited < 1000, `an ordinary request waited ${waited} ms behind a slow upload`);
    assert.equal(answer, '', 'the upload was answered before its body was complete');
    upload.write('fghij');
    const t1 = Date.now();
    while (!answer.includes('sha1') && Date.now() - t1 < 5000) await sleep(20);
    assert.match(answer, /^HTTP\/1\.1 200 /);
    const body = JSON.parse(/\{.*\}/.exec(answer)![0]) as { bytes: number; sha1: string };
    assert.deepEqual(body, { bytes: 10, sha1: createHash('sha1').update('abcdefghij').digest('hex') });
    await srv.stop();
  });

  test('a client pipelining requests and never reading the answers stops being read; the worker stays small and serves others', async (t) => {
    const { srv, port, url } = await serve(['-k', 'gthread', '-w', '1', '--threads', '2', APP]);
    t.after(() => srv.kill());
    const [worker] = srv.workers();
    await json(`${url}/sleep?ms=1`);
    const before = rssBytes(worker!);
    const offered = 50 << 20;
    const requests = Buffer.from('GET /sleep?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(Math.floor((1 << 20) / 40)));
    const deaf = net.connect({ host: '127.0.0.1', port });
    t.after(() => deaf.destroy());
    deaf.on('error', () => {});
    deaf.pause();
    let queued = 0;
    const fill = () => {
      while (queued < offered) {
        queued += requests.length;
        if (!deaf.write(requests)) return void deaf.once('drain', fill);
      }
    };
    deaf.on('connect', fill);
    await sleep(3000);
    const grew = rssBytes(worker!) - before;
    t.diagnostic(`deaf client: ${(deaf.bytesWritten / (1 << 20)).toFixed(1)} of 50 MB taken from it in 3 s; worker RSS +${(grew / (1 << 20)).toFixed(0)} MB`);
    // Unheld, the worker parses all 50 MB in well under a second and queues every request.
    assert.ok(deaf.bytesWritten < 10 << 20, `the worker read ${deaf.bytesWritten} bytes of a client that never reads`);
    assert.ok(grew < 150 << 20, `the worker grew by ${grew} bytes`);
    const t0 = Date.now();
    await json(`${url}/sleep?ms=1`);
    assert.ok(Date.now() - t0 < 2000, 'another client waited behind the pipelining one');
    deaf.destroy();
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

  test('a request that is merely long (awaiting, or streaming to a slow reader) outlives --timeout; its worker is not recycled', async (t) => {
    const { srv, url, port } = await serve(['-k', 'gthread', '-w', '1', '--threads', '2', '-t', '1', APP]);
    t.after(() => srv.kill());
    const pid = (await json(url)).pid;
    const waited = json(`${url}/sleep?ms=2500`);
    // 16 MB to a client that reads nothing for 2.5 s: past the kernel's buffers and the thread's
    // window, the app's writes wait on the client.
    const download = new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/bytes?mb=16' }, (res) => {
        let n = 0;
        res.pause();
        setTimeout(() => res.resume(), 2500).unref();
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    });
    const started = Date.now();
    assert.equal((await waited).pid, pid);
    const bytes = await download;
    assert.equal(bytes, 16 << 20);
    assert.ok(Date.now() - started > 2000);
    assert.doesNotMatch(srv.output, /WORKER TIMEOUT/);
    assert.equal((await json(url)).pid, pid, 'the worker was recycled');
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
    // Where it was stuck: the app's own line, read from the thread through the inspector.
    await srv.waitFor(/App thread \d+ \(pid:\d+\) was stuck on GET \/loop, here:\n {4}at exports\.app \(\S*threads\.cjs:\d+:\d+\)/, 3000);
    assert.equal((await other).pid, pid, 'the request on the healthy thread was lost');
    assert.ok([500, 'cut'].includes(await stuck));
    await srv.waitFor(/Worker booted/, 8000, 2);
    assert.notEqual((await json(url)).pid, pid);
    await srv.waitFor(new RegExp(`Worker exiting \\(pid: ${pid}\\)`));
    await sleep(500);
    // The recycled worker left by itself: a thread left paused in the debugger would hold its
    // exit ("Waiting for the debugger to disconnect...") until the master killed it.
    assert.doesNotMatch(srv.output, /Waiting for the debugger|could not be read/);
    assert.doesNotMatch(srv.output, new RegExp(`WORKER TIMEOUT \\(pid:${pid}\\)$`, 'm'));
    await srv.stop();
  });
});
