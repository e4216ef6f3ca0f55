/**
 * Hostile clients (issue 6), one phase after another against the same server while a probe (in a
 * thread of its own) sends ordinary requests: 300 slowloris connections, 300 slow-body uploads,
 * 3000 random and mutated requests (seeded: FAULTS_SEED=<n> replays a run), oversized headers and
 * bodies, pipelined floods. No worker dies of bad input; in each phase ordinary requests stay
 * under 100 ms p99; slow headers are cut at --header-timeout, slow bodies at --request-timeout.
 *
 * One looser bound: under async, node:http parses a whole read (64 KB, some 2300 pipelined
 * requests) and starts every request in it before its event loop turns, so during pipelined
 * floods ordinary requests on that worker wait for up to seconds (bare node:http does the same).
 * gthread holds a connection's requests past 16 on the connection and stops reading it, and its
 * main thread only parses, so there they stay well under the bound.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { cut, exchange, hostileRequest, trickle } from '../helpers/hostile.js';
import { SEED, parseResponse, percentile } from '../helpers/load.js';
import { ThreadProbe } from '../helpers/probe-thread.js';
import { rssBytes } from '../helpers/procfs.js';
import { prng } from '../helpers/random.js';
import { FIXTURES, serve, sleep } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'faults', 'app.cjs')}:app`;
const HEADER_TIMEOUT_S = 2;
const SLOW = 300;
const SLOW_HOLD_MS = HEADER_TIMEOUT_S * 1000 + 1500;
const REQUEST_TIMEOUT_S = 3;
/** --request-timeout is checked every second at most. */
const BODY_HOLD_MS = REQUEST_TIMEOUT_S * 1000 + 1500;
const FUZZ_CASES = 3000;
const FUZZ_CONCURRENCY = 20;
const MAX_P99_MS = 100;
/** Not a target: how long a flood may hold ordinary requests back before this test calls it a regression. */
const MAX_FLOOD_P99_MS = 5000;
const READERS = 10;
const PIPELINED = 1000;
const DEAF = 4;
const DEAF_MB = 1;
const MB = 1024 * 1024;

/** Writes `n` pipelined requests at once; counts the answers until `n` or `ms`. */
function pipelined(port: number, n: number, ms: number): Promise<number> {
  return new Promise((resolve) => {
    let answered = 0;
    let buf: Buffer = Buffer.alloc(0);
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n)));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (let r = parseResponse(buf); r; r = parseResponse(buf)) {
        if (r.status === 200) answered++;
        buf = buf.subarray(r.length);
      }
      if (answered === n) done();
    });
    socket.on('error', () => {});
    socket.on('close', done);
  });
}

for (const cls of ['async', 'gthread'] as const) {
  test(`hostile clients (-k ${cls}): no worker dies of bad input, ordinary requests stay under ${MAX_P99_MS} ms p99, slow headers are cut at --header-timeout`, { timeout: 150_000 }, async (t) => {
    const threads = cls === 'gthread' ? ['--threads', '4'] : [];
    const { srv, port } = await serve(['-k', cls, ...threads, '-w', '2', '--header-timeout', String(HEADER_TIMEOUT_S), '--request-timeout', String(REQUEST_TIMEOUT_S), APP], { workers: 2 });
    t.after(() => srv.kill());
    const workers = srv.workers();
    const target = { host: '127.0.0.1', port };
    const probe = new ThreadProbe({ port, lanes: 2, keepAlive: false, paceMs: 10 });
    t.after(() => probe.destroy());
    const figure = (st: TestContext, what: string) => st.diagnostic(`FIGURE hostile ${cls}: ${what}`);
    /** Ordinary requests sent since the last call: their p99, and the assertion on it. */
    const ordinary = async (st: TestContext, phase: string, bound = MAX_P99_MS) => {
      const p99 = percentile((await probe.report()).latencies, 99);
      figure(st, `${phase}: ordinary requests meanwhile p99 ${p99.toFixed(1)} ms`);
      assert.ok(p99 < bound, `ordinary requests p99 ${p99.toFixed(1)} ms during ${phase}`);
    };
    // Warm (first connections, the JIT, gthread's threads), then a quiet baseline for reference:
    // the machine's noise, not the server's.
    await sleep(1000);
    await probe.report();
    await sleep(1000);
    figure(t, `baseline: ordinary requests p99 ${percentile((await probe.report()).latencies, 99).toFixed(1)} ms`);

    await t.test(`${SLOW} slowloris connections are answered 408 and closed at --header-timeout`, async (st) => {
      const loris = Array.from({ length: SLOW }, () => trickle(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n', (n) => `X-Slow-${n}: y\r\n`));
      st.after(() => loris.forEach((c) => c.socket.destroy()));
      await Promise.race([Promise.all(loris.map((c) => c.done)), sleep(SLOW_HOLD_MS + 3000)]);
      const life = loris.map((c) => (c.closed ? c.closed - c.opened : Infinity));
      const answered408 = loris.filter((c) => /^HTTP\/1\.1 408 /.test(c.data)).length;
      figure(st, `${SLOW} slowloris closed after ${Math.min(...life)}..${Math.max(...life)} ms (--header-timeout ${HEADER_TIMEOUT_S}), ${answered408} answered 408`);
      assert.ok(Math.max(...life) <= SLOW_HOLD_MS, `a slowloris connection lived ${Math.max(...life)} ms`);
      assert.equal(answered408, SLOW, 'every slowloris connection is answered 408');
      await ordinary(st, 'slowloris');
    });

    await t.test(`${SLOW} slow-body uploads are answered 408 and closed at --request-timeout without holding up others`, async (st) => {
      const uploads = Array.from({ length: SLOW }, () => trickle(port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n', () => 'x'));
      st.after(() => uploads.forEach((c) => c.socket.destroy()));
      await Promise.race([Promise.all(uploads.map((c) => c.done)), sleep(BODY_HOLD_MS + 3000)]);
      const life = uploads.map((c) => (c.closed ? c.closed - c.opened : Infinity));
      const answered408 = uploads.filter((c) => /^HTTP\/1\.1 408 /.test(c.data)).length;
      figure(st, `${SLOW} slow uploads closed after ${Math.min(...life)}..${Math.max(...life)} ms (--request-timeout ${REQUEST_TIMEOUT_S}), ${answered408} answered 408`);
      assert.ok(Math.max(...life) <= BODY_HOLD_MS, `a slow upload lived ${Math.max(...life)} ms`);
      assert.ok(Math.min(...life) >= REQUEST_TIMEOUT_S * 1000 - 50, `a slow upload was cut after ${Math.min(...life)} ms`);
      assert.equal(answered408, SLOW, 'every slow upload is answered 408');
      await ordinary(st, 'slow uploads');
    });

    await t.test(`${FUZZ_CASES} random and mutated requests are answered or closed`, async (st) => {
      const rand = prng(SEED);
      const cases = Array.from({ length: FUZZ_CASES }, () => cut(rand, hostileRequest(rand)));
      const outcomes = new Map<string, number>();
      let next = 0;
      const t0 = Date.now();
      await Promise.all(
        Array.from({ length: FUZZ_CONCURRENCY }, async () => {
          while (next < cases.length) {
            const r = await exchange(target, cases[next++]!, 3000);
            const key = r.status !== null ? String(r.status) : r.closed ? 'closed' : 'open';
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          }
        }),
      );
      const list = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}×${n}`).join(' ');
      figure(st, `${FUZZ_CASES} random/mutated requests in ${Date.now() - t0} ms (seed ${SEED}, FAULTS_SEED to replay): ${list}`);
      assert.equal(outcomes.get('open') ?? 0, 0, 'requests neither answered nor closed 3 s after the client finished');
      await ordinary(st, 'fuzz');
    });

    await t.test('oversized headers get the limits\' answers; oversized bodies are read through', async (st) => {
      const field = (n: number) => `X-F${n}: ${'v'.repeat(8000)}\r\n`;
      const chunk = Buffer.concat([Buffer.from(`${MB.toString(16)}\r\n`), Buffer.alloc(MB, 'c'), Buffer.from('\r\n')]);
      const cases: [string, Buffer[], number | null][] = [
        ['header value 100 KB', [Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`)], 431],
        ['200 header fields', [Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: 1\r\n`).join('')}\r\n`)], 431],
        ['request line 100 KB', [Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)], 400],
        ['header section 1 MB', [Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 128 }, (_, i) => field(i)).join('')}\r\n`)], 431],
        ['body 64 MB', [Buffer.from(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * MB}\r\n\r\n`), Buffer.alloc(64 * MB, 'b')], 200],
        ['chunked body 16 MB', [Buffer.from('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'), ...Array(16).fill(chunk), Buffer.from('0\r\n\r\n')], 200],
        ['body 64 MB the app never reads', [Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * MB}\r\n\r\n`), Buffer.alloc(64 * MB, 'd')], 200],
        ['Content-Length 10^15, 1 byte sent', [Buffer.from('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000\r\n\r\nx')], null],
      ];
      const got: string[] = [];
      for (const [name, pieces, want] of cases) {
        const r = await exchange(target, pieces, 15_000);
        got.push(`${name}: ${r.status ?? (r.closed ? 'closed' : 'open')}`);
        if (want !== null) assert.equal(r.status, want, `${name}: ${r.status}`);
        else assert.ok(r.closed, `${name}: the connection was left open after the client's end`);
      }
      figure(st, `oversized: ${got.join('; ')}`);
      await ordinary(st, 'oversized');
    });

    await t.test('pipelined floods: every pipelined request answered, memory bounded, ordinary requests served (late)', async (st) => {
      // Clients reading their pipelined answers, and clients writing megabytes of pipelined
      // requests and never reading.
      const rssBefore = workers.reduce((n, pid) => n + rssBytes(pid), 0);
      const deaf = Array.from({ length: DEAF }, () => {
        const s = net.connect(target, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(Math.floor((DEAF_MB * MB) / 28))));
        s.on('error', () => {});
        s.pause();
        return s;
      });
      st.after(() => deaf.forEach((s) => s.destroy()));
      const floods = await Promise.all(Array.from({ length: READERS }, () => pipelined(port, PIPELINED, 8000)));
      await sleep(500);
      const rssFlooded = workers.reduce((n, pid) => n + rssBytes(pid), 0);
      deaf.forEach((s) => s.destroy());
      figure(
        st,
        `pipelined: ${floods.reduce((a, b) => a + b, 0)}/${READERS * PIPELINED} answered to ${READERS} reading clients; ` +
          `${DEAF} deaf clients x ${DEAF_MB} MB: worker RSS ${(rssBefore / MB).toFixed(0)} -> ${(rssFlooded / MB).toFixed(0)} MB`,
      );
      assert.deepEqual(floods, Array(READERS).fill(PIPELINED), 'pipelined requests went unanswered');
      // What the workers hold for clients that never read their answers (their requests parsed,
      // answers waiting in socket buffers): about 60 MB on Node 20 under async and gthread, 170
      // to 220 MB under async on Node 24, for these 4 MB of requests. Unbounded buffering (parsing
      // all of it and queueing every request) went past 450 MB.
      assert.ok(rssFlooded - rssBefore < 320 * MB, `deaf pipelining clients grew the workers by ${((rssFlooded - rssBefore) / MB).toFixed(0)} MB`);
      await ordinary(st, 'floods', MAX_FLOOD_P99_MS);
    });

    const last = await probe.stop();
    figure(t, `probe ${last.ok} ok, ${last.failed} failed; worker pids unchanged: ${JSON.stringify(srv.workers()) === JSON.stringify(workers)}`);
    assert.deepEqual(srv.workers(), workers, 'a worker died of bad input');
    assert.doesNotMatch(srv.output, /Uncaught exception|exited with code|was sent SIG/);
    assert.equal(last.failed, 0, last.failures.join('; '));
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });
}
