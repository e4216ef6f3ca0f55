/**
 * Crash loop (issue 6): an app whose workers die one second after booting. The master stays up,
 * respawns them with a growing delay instead of in a tight loop, says so in the log, and spends
 * little CPU doing it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { cpuSeconds, isLive } from '../helpers/procfs.js';
import { FIXTURES, serve, sleep } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'faults', 'crash-loop.cjs')}:app`;
const WATCH_MS = 12_000;
/** Of one core, over the whole watch. */
const MAX_MASTER_CPU = 0.05;

test('crash loop: workers dying 1 s after boot are respawned with a growing delay; the master stays up, says so, and stays cool', { timeout: 60_000 }, async (t) => {
  const { srv } = await serve(['-k', 'async', '-w', '1', APP]);
  t.after(() => srv.kill());
  const cpu0 = cpuSeconds(srv.pid);
  const t0 = Date.now();

  // When each worker appeared and when it was gone, polled from /proc.
  const life = new Map<number, { born: number; gone: number }>();
  while (Date.now() - t0 < WATCH_MS) {
    const now = Date.now();
    const live = new Set(srv.workers().filter(isLive));
    for (const pid of live) if (!life.has(pid)) life.set(pid, { born: now, gone: 0 });
    for (const [pid, l] of life) if (!l.gone && !live.has(pid)) l.gone = now;
    await sleep(20);
  }
  const wall = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(srv.pid) - cpu0;

  const lives = [...life.values()].sort((a, b) => a.born - b.born);
  // The pause between one worker's end and the next one's start.
  const pauses = lives.slice(1).map((l, i) => l.born - lives[i]!.gone);
  const announced = [...srv.output.matchAll(/died (\d+) times in a row soon after starting; respawning in ([\d.]+)s/g)].map((m) => ({
    times: Number(m[1]),
    delay: Number(m[2]),
  }));
  t.diagnostic(
    `FIGURE crash-loop: ${lives.length} workers in ${wall.toFixed(1)} s; pauses before respawn ${pauses.map((p) => (p / 1000).toFixed(1)).join(', ')} s; ` +
      `announced delays ${announced.map((a) => a.delay).join(', ')} s; master CPU ${cpu.toFixed(2)} s = ${((cpu / wall) * 100).toFixed(1)} % of a core`,
  );

  assert.ok(!srv.done && isLive(srv.pid), 'the master exited');
  assert.match(srv.output, /Uncaught exception in worker; restarting it/);
  assert.match(srv.output, /Worker \(pid:\d+\) exited with code 1\./);
  assert.ok(announced.length >= 3, `the log announced ${announced.length} delayed respawns`);
  announced.forEach((a, i) => {
    assert.equal(a.times, i + 2, 'the deaths are counted in a row');
    assert.equal(a.delay, Math.min(10, 0.1 * 2 ** (a.times - 1)), `death ${a.times}: delay ${a.delay}s`);
  });
  // Each announced delay is kept. It runs from the worker's announcement that it is leaving;
  // the worker is gone up to 200 ms later (its watchdog thread closes), and polling adds 20 ms.
  for (const a of announced) {
    const pause = pauses[a.times - 1];
    if (pause !== undefined) assert.ok(pause >= a.delay * 1000 - 250, `respawned ${pause} ms after death ${a.times}, announced ${a.delay}s`);
  }
  // Without the back-off a 1 s app would be respawned about every 1.5 s here.
  assert.ok(lives.length <= WATCH_MS / 1500, `${lives.length} workers in ${wall} s`);
  assert.ok(cpu / wall <= MAX_MASTER_CPU, `the master used ${((cpu / wall) * 100).toFixed(1)} % of a core`);
  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
});
