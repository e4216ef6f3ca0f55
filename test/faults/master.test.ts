/**
 * Master faults (issue 6): the master is SIGKILLed while its workers serve, one of them stuck in
 * an endless loop. Every worker notices its parent is gone and exits within a few seconds (none
 * is left behind), and a new master started on the same unix socket path serves at once.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { request } from '../helpers/edge.js';
import { isLive } from '../helpers/procfs.js';
import { FIXTURES, sleep, start, tempDir } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'faults', 'app.cjs')}:app`;
const WORKERS = 3;
/** A free worker leaves at once; a stuck one when its watchdog sees two missed heartbeats (2.5 s). */
const GONE_WITHIN_MS = 5000;

test('master SIGKILLed: every worker exits within a few seconds, a stuck one included; a new master serves on the same unix socket path', { timeout: 60_000 }, async (t) => {
  const sock = path.join(tempDir('tsgunicorn-faults-'), 'app.sock');
  const args = ['-b', `unix:${sock}`, '--log-level', 'debug', '-k', 'async', '-w', String(WORKERS), APP];
  const srv = start(args);
  t.after(() => srv.kill());
  await srv.waitFor(/Worker booted/, 15_000, WORKERS);
  const workers = srv.workers();
  // Whatever this test fails on, no worker of it outlives it.
  t.after(() => workers.forEach((pid) => isLive(pid) && process.kill(pid, 'SIGKILL')));
  const get = (p: string, timeoutMs = 10_000) => request({ socketPath: sock, path: p, timeoutMs });

  // Busy workers: one stuck, requests hanging on the others.
  const inFlight = ['/spin', '/hang', '/hang', '/slow?ms=20000'].map((p) => get(p, 15_000).then(() => 'answered', () => 'cut'));
  await sleep(500);
  assert.equal((await get('/')).status, 200);

  process.kill(srv.pid, 'SIGKILL');
  const killedAt = Date.now();
  const goneAfter = new Map<number, number>();
  while (goneAfter.size < workers.length && Date.now() - killedAt < GONE_WITHIN_MS + 3000) {
    for (const pid of workers) if (!goneAfter.has(pid) && !isLive(pid)) goneAfter.set(pid, Date.now() - killedAt);
    await sleep(20);
  }
  const left = workers.filter((pid) => isLive(pid));
  const times = [...goneAfter.values()].sort((a, b) => a - b);
  const cut = (await Promise.all(inFlight)).filter((r) => r === 'cut').length;
  assert.match(srv.output, /is stuck and its master \(pid:\d+\) is gone; exiting/);

  // The socket file stays behind a killed master; the next one takes the path over.
  assert.ok(existsSync(sock), 'the unix socket file was removed');
  const restartAt = Date.now();
  const again = start(args);
  t.after(() => again.kill());
  await again.waitFor(/Worker booted/, 15_000, WORKERS);
  const r = await get('/');
  const servingAfter = Date.now() - restartAt;

  t.diagnostic(
    `FIGURE master-kill: ${goneAfter.size}/${workers.length} workers gone ${times.join(', ')} ms after the master (a stuck one included), ` +
      `${left.length} left; ${cut}/${inFlight.length} requests in flight cut; a new master on the same unix socket answered ${r.status} after ${servingAfter} ms`,
  );
  assert.deepEqual(left, [], `workers outlived their master: ${left.join(', ')}`);
  assert.ok(times.at(-1)! <= GONE_WITHIN_MS, `the last worker left ${times.at(-1)} ms after the master`);
  assert.equal(r.status, 200);
  assert.deepEqual(await again.stop(), { code: 0, signal: null });
  assert.ok(!existsSync(sock), 'a master stopping normally removes its socket file');
});
