/**
 * App faults (issue 6): handlers that throw, reject, call process.exit, never answer, or loop
 * forever, while a probe keeps sending ordinary requests. Throw and reject get 500 from a worker
 * that lives on; exit is respawned; the endless loop is killed at --timeout with the stack of the
 * stuck function in the log. A request the app never answers gets a 500 at --request-timeout
 * and the worker lives on; an answer that has started (a stream) is not cut by it, and a graceful
 * stop cuts it at --graceful-timeout. In the gthread class the app runs in threads: an
 * exit ends only its thread (500); a thread whose event loop stops past --timeout is terminated
 * (500) and its worker recycled gracefully; a request never answered gets 500 at
 * --request-timeout, as in the other classes, and recycles nothing.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { request } from '../helpers/edge.js';
import { Load } from '../helpers/load.js';
import { isLive } from '../helpers/procfs.js';
import { FIXTURES, serve, sleep, type Server } from '../helpers/server.js';

const APP_FILE = path.join(FIXTURES, 'faults', 'app.cjs');
const TIMEOUT_S = 2;
const GRACEFUL_S = 2;
const REQUEST_TIMEOUT_S = 3;
const PROBE_LANES = 4;

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(25);
  }
}

function bootedCount(srv: Server): number {
  return (srv.output.match(/Worker booted/g) ?? []).length;
}

/** A request on a raw connection; `closed` resolves with the time the server closed it. */
function rawRequest(port: number, path: string): { closed: Promise<number>; text: () => string } {
  let text = '';
  const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: faults\r\n\r\n`));
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  return { closed, text: () => text };
}

/** Two workers of the fault app with --timeout, and a probe sending ordinary requests meanwhile. */
async function faultyServer(t: TestContext, args: string[]) {
  const { srv, port } = await serve([...args, '-w', '2', '--timeout', String(TIMEOUT_S), `${APP_FILE}:app`], { workers: 2 });
  t.after(() => srv.kill());
  const probe = new Load({ port, lanes: PROBE_LANES, keepAlive: false, paceMs: 25 }).start();
  t.after(() => probe.destroy());
  const get = (p: string) => request({ host: '127.0.0.1', port, path: p, timeoutMs: 15_000 });
  return { srv, port, probe, get, workers: srv.workers() };
}

test('app faults (-k async): throw and reject get 500, exit is respawned, an endless loop is killed at --timeout with its stack, others keep being served', { timeout: 90_000 }, async (t) => {
  const { srv, port, probe, get, workers } = await faultyServer(t, ['-k', 'async', '--graceful-timeout', String(GRACEFUL_S), '--request-timeout', String(REQUEST_TIMEOUT_S)]);

  // Throw and reject: answered 500, by the same workers.
  for (const p of ['/throw', '/reject', '/throw', '/reject', '/throw', '/reject']) assert.equal((await get(p)).status, 500, p);
  await srv.waitFor(/Error handling request \/throw/);
  await srv.waitFor(/Error handling request \/reject/);
  assert.deepEqual(srv.workers(), workers, 'a handler error took a worker down');
  assert.equal((await get('/')).status, 200);

  // process.exit: the request is lost with its worker, which is replaced.
  let booted = bootedCount(srv);
  await assert.rejects(get('/exit?code=1'), 'a request whose handler exits cannot be answered');
  const [exitLine] = await srv.waitFor(/Worker \(pid:(\d+)\) exited with code 1\./);
  const exited = Number(exitLine![1]);
  assert.ok(workers.includes(exited), `pid ${exited} was not a worker`);
  await srv.waitFor(/Worker booted/, 15_000, booted + 1);
  await until(() => srv.workers().filter(isLive).length === 2 && !srv.workers().includes(exited), 10_000, 'two workers after the exit');

  // An endless loop: killed at --timeout, the stack of the stuck function logged.
  booted = bootedCount(srv);
  const spunAt = Date.now();
  const spin = get('/spin').then(
    () => 'answered',
    () => 'cut',
  );
  const [timeoutLine] = await srv.waitFor(/WORKER TIMEOUT \(pid:(\d+)\)/, 20_000);
  const timedOutAfter = Date.now() - spunAt;
  const stuck = Number(timeoutLine![1]);
  await until(() => !isLive(stuck), 5000, `the stuck worker ${stuck} to be killed`);
  const killedAfter = Date.now() - spunAt;
  assert.equal(await spin, 'cut');
  const escaped = APP_FILE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await srv.waitFor(new RegExp(`Worker \\(pid:${stuck}\\) has been stuck for [\\d.]+s, here:\\n\\s+at spinForever \\((?:file://)?${escaped}:\\d+:\\d+\\)`));
  // Silence counts from the worker's last heartbeat, up to a beat (timeout/4) before the request.
  assert.ok(timedOutAfter >= TIMEOUT_S * 750 - 100, `WORKER TIMEOUT after ${timedOutAfter} ms, before --timeout`);
  // The master looks every 200 ms (timeout/10) and kills one second after SIGABRT.
  assert.ok(killedAfter <= TIMEOUT_S * 1000 + 2500, `the stuck worker lived ${killedAfter} ms`);
  await srv.waitFor(/Worker booted/, 15_000, booted + 1);

  // A request never answered: 500 at --request-timeout (its sweep runs every second), closed.
  const hang = rawRequest(port, '/hang');
  const hungAt = Date.now();
  const hangCut = await Promise.race([hang.closed, sleep(REQUEST_TIMEOUT_S * 1000 + 5000).then(() => 0)]);
  const hangCutAfter = (hangCut || Date.now()) - hungAt;
  assert.ok(hangCut > 0, `the never-answered request was still open after ${hangCutAfter} ms`);
  assert.match(hang.text(), /^HTTP\/1\.1 500 /);
  assert.ok(hangCutAfter >= REQUEST_TIMEOUT_S * 1000 - 50 && hangCutAfter <= REQUEST_TIMEOUT_S * 1000 + 1500, `cut after ${hangCutAfter} ms`);
  await srv.waitFor(/Request timed out after \d+s \(--request-timeout\): GET \/hang; answered 500/);

  // An answer that has started and never ends (a stream) outlives --request-timeout...
  const drip = rawRequest(port, '/drip');
  const dripEarly = await Promise.race([drip.closed, sleep(REQUEST_TIMEOUT_S * 1000 + 1500).then(() => 0)]);
  assert.equal(dripEarly, 0, 'a stream that had started was cut');
  assert.match(drip.text(), /^HTTP\/1\.1 200 /);
  await probe.stop();

  // ...and a graceful stop cuts it at --graceful-timeout (after the worker drains its accept queue, up to 1 s).
  const termAt = Date.now();
  const stopped = srv.stop();
  const cutAfter = (await drip.closed) - termAt;
  assert.ok(cutAfter >= GRACEFUL_S * 1000 - 100 && cutAfter <= GRACEFUL_S * 1000 + 2000, `cut ${cutAfter} ms after TERM`);
  assert.deepEqual(await stopped, { code: 0, signal: null });

  t.diagnostic(
    `FIGURE app-faults async: throw/reject 6/6 answered 500 by live workers; exit respawned; endless loop: WORKER TIMEOUT after ${timedOutAfter} ms, ` +
      `killed after ${killedAfter} ms (--timeout ${TIMEOUT_S}); never-answered request: 500 after ${hangCutAfter} ms (--request-timeout ${REQUEST_TIMEOUT_S}); ` +
      `a started stream not cut by it, cut ${cutAfter} ms after TERM (--graceful-timeout ${GRACEFUL_S}); meanwhile ${probe.ok} probe requests ok, ${probe.failed} failed, longest gap ${probe.maxGapMs.toFixed(0)} ms`,
  );
  // A probe request can only be lost on the worker that exited or the one that got stuck.
  assert.ok(probe.failed <= 2 * PROBE_LANES, `${probe.failed} probe requests failed: ${probe.failures.join('; ')}`);
  assert.ok(probe.maxGapMs < 1500, `no request was served for ${probe.maxGapMs.toFixed(0)} ms`);
});

test('app faults (-k gthread): throw, reject and exit get 500 from live workers; a stuck thread is cut at --timeout and its worker recycled, a never-answered request gets 500 at --request-timeout, without losing other requests', { timeout: 90_000 }, async (t) => {
  const { srv, probe, get, workers } = await faultyServer(t, ['-k', 'gthread', '--threads', '2', '--request-timeout', String(REQUEST_TIMEOUT_S)]);

  // process.exit in an app thread ends that thread, not the worker.
  for (const p of ['/throw', '/reject', '/exit?code=1', '/throw', '/reject', '/exit?code=1']) assert.equal((await get(p)).status, 500, p);
  await srv.waitFor(/Error handling request \/exit/);
  assert.deepEqual(srv.workers(), workers, 'an app fault took a worker down');

  // An endless loop stops the thread's heartbeat: the thread is terminated at --timeout (500)
  // and its worker recycled gracefully.
  let t0 = Date.now();
  const spin = await get('/spin');
  const spinCut = Date.now() - t0;
  assert.equal(spin.status, 500);
  const [line] = await srv.waitFor(/WORKER TIMEOUT \(pid:(\d+)\): an app thread was stuck for [\d.]+s on GET \/spin/);
  const recycled = Number(line![1]);
  await srv.waitFor(/App thread \d+ \(pid:\d+\) was stuck on GET \/spin, here:\n {4}at spinForever \(/, 3000);
  await until(() => !srv.workers().includes(recycled) && srv.workers().filter(isLive).length === 2, 15_000, `worker ${recycled} replaced`);
  // The silence is counted from the thread's last heartbeat, up to 250 ms before the request.
  assert.ok(spinCut >= TIMEOUT_S * 1000 - 300 && spinCut <= TIMEOUT_S * 1000 + 2000, `/spin cut after ${spinCut} ms`);

  // A request the app never answers leaves its thread turning: 500 at --request-timeout, and no
  // worker is recycled for it.
  const before = srv.workers();
  t0 = Date.now();
  const hang = await get('/hang');
  const hangCut = Date.now() - t0;
  assert.equal(hang.status, 500);
  await srv.waitFor(/Request timed out after \d+s \(--request-timeout\): GET \/hang; answered 500/);
  assert.ok(hangCut >= REQUEST_TIMEOUT_S * 1000 - 50 && hangCut <= REQUEST_TIMEOUT_S * 1000 + 1500, `/hang cut after ${hangCut} ms`);
  assert.equal(srv.output.match(/WORKER TIMEOUT/g)?.length, 1, 'a thread that was only waiting was taken for stuck');
  assert.deepEqual(srv.workers(), before, 'a worker was recycled for a request that was only waiting');

  await probe.stop();
  t.diagnostic(
    `FIGURE app-faults gthread: throw/reject/exit 6/6 answered 500 by live workers; endless loop cut after ${spinCut} ms (--timeout ${TIMEOUT_S}), worker recycled; ` +
      `never-answered request: 500 after ${hangCut} ms (--request-timeout ${REQUEST_TIMEOUT_S}), no worker recycled; ` +
      `meanwhile ${probe.ok} probe requests ok, ${probe.failed} failed, longest gap ${probe.maxGapMs.toFixed(0)} ms`,
  );
  assert.equal(probe.failed, 0, probe.failures.join('; '));
  assert.ok(probe.maxGapMs < 1500, `no request was served for ${probe.maxGapMs.toFixed(0)} ms`);
  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
});
