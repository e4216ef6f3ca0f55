/**
 * Worker-pool behaviour that users size their servers by: sync takes one request at a time and a
 * busy sync worker is not handed connections; async holds at most --worker-connections; workers
 * are recycled after --max-requests; TTIN/TTOU/HUP change and replace the pool.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isLive } from '../helpers/procfs.js';
import { FIXTURES, serve, sleep, start } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'app.cjs')}:app`;

/** One request on a new connection (agent: false), as nginx's default upstream does. */
function request(url: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(25);
  }
}

describe('sync', () => {
  test('a busy sync worker is not handed a connection while the other worker is idle', async (t) => {
    const { srv, url } = await serve(['-k', 'sync', '-w', '2', APP], { workers: 2 });
    t.after(() => srv.kill());
    const slow = request(`${url}/slow?ms=2500`);
    await sleep(300);
    const pids = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const t0 = Date.now();
      const r = await request(`${url}/pid`);
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 < 1000, `request ${i} waited ${Date.now() - t0} ms behind the busy worker`);
      pids.add(r.body);
    }
    const busy = (await slow).body.split(' ').pop()!.trim();
    assert.equal(pids.size, 1, `quick requests went to ${[...pids].join(', ')}`);
    assert.ok(!pids.has(`ok ${busy}\n`), 'a quick request went to the busy worker');
    await srv.stop();
  });

  test('one request at a time per worker; waiting connections are served, none dropped', async (t) => {
    const { srv, url } = await serve(['-k', 'sync', '-w', '1', APP]);
    t.after(() => srv.kill());
    const t0 = Date.now();
    const all = await Promise.all([1, 2, 3, 4].map(() => request(`${url}/slow?ms=400`)));
    const took = Date.now() - t0;
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.connection, 'close');
    }
    assert.ok(took >= 1500, `4 × 400 ms on one sync worker took only ${took} ms: they ran concurrently`);
    await srv.stop();
  });
});

describe('async', () => {
  test('--worker-connections caps open connections; the next one waits and is then served', async (t) => {
    const { srv, port, url } = await serve(['-k', 'async', '-w', '1', '--worker-connections', '2', '--keep-alive', '30', APP]);
    t.after(() => srv.kill());
    const open = async () => {
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      return s;
    };
    const a = await open();
    const b = await open();
    await sleep(200);
    let answered = false;
    const third = request(`${url}/pid`).then((r) => {
      answered = true;
      return r;
    });
    await sleep(700);
    assert.equal(answered, false, 'a third connection was served while two were open');
    a.destroy();
    const r = await third;
    assert.equal(r.status, 200);
    b.destroy();
    await srv.stop();
  });
});

describe('supervision', () => {
  test('--max-requests recycles the worker without a failed request', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '-w', '1', '--max-requests', '5', APP]);
    t.after(() => srv.kill());
    const pids: string[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await request(`${url}/pid`);
      assert.equal(r.status, 200);
      pids.push(r.body);
    }
    assert.ok(new Set(pids).size >= 2, `pid never changed: ${pids[0]}`);
    assert.notEqual(pids[0], pids[5], 'the sixth request was served by the same worker');
    await srv.waitFor(/Autorestarting worker after current request\./);
    await srv.stop();
  });

  test('TTIN adds a worker, TTOU removes the oldest', async (t) => {
    const { srv } = await serve(['-k', 'async', '-w', '2', APP], { workers: 2 });
    t.after(() => srv.kill());
    const before = srv.workers();
    process.kill(srv.pid, 'SIGTTIN');
    await until(() => srv.workers().length === 3, 5000, '3 workers after TTIN');
    process.kill(srv.pid, 'SIGTTOU');
    await until(() => srv.workers().length === 2, 5000, '2 workers after TTOU');
    const after = srv.workers();
    assert.ok(!after.includes(before[0]!), `the oldest worker ${before[0]} is still there`);
    assert.ok(after.includes(before[1]!));
    await srv.stop();
  });

  test('HUP replaces every worker with new ones and keeps serving', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '-w', '2', APP], { workers: 2 });
    t.after(() => srv.kill());
    const old = srv.workers();
    process.kill(srv.pid, 'SIGHUP');
    await until(() => {
      const now = srv.workers();
      return now.length === 2 && now.every((p) => !old.includes(p));
    }, 10_000, 'two new workers and none of the old');
    await srv.waitFor(/Hang up: Master/);
    for (let i = 0; i < 5; i++) assert.equal((await request(`${url}/`)).status, 200);
    await srv.stop();
  });

  test('workers that keep dying of uncaught exceptions soon after boot are respawned with a growing delay', async (t) => {
    const crashing = `${path.join(FIXTURES, 'faults', 'crash-loop.cjs')}:app`;
    const { srv } = await serve(['-k', 'async', '-w', '1', '-e', 'CRASH_AFTER_MS=100', crashing]);
    t.after(() => srv.kill());
    await srv.waitFor(/died 2 times in a row soon after starting; respawning in 0\.2s/, 15_000);
    await srv.waitFor(/died 3 times in a row soon after starting; respawning in 0\.4s/, 15_000);
    assert.match(srv.output, /Uncaught exception in worker; restarting it/);
    await srv.stop();
  });

  test('workers SIGKILLed from outside in a row are replaced at once, without the crash back-off', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '-w', '1', APP]);
    t.after(() => srv.kill());
    // Counted as crashes, the sixth replacement would wait 3.2 s (100 ms doubling each time).
    for (let i = 0; i < 6; i++) {
      const [victim] = srv.workers();
      const booted = (srv.output.match(/Worker booted/g) ?? []).length;
      const t0 = Date.now();
      process.kill(victim!, 'SIGKILL');
      await srv.waitFor(/Worker booted/, 10_000, booted + 1);
      const ms = Date.now() - t0;
      assert.ok(ms < 2500, `replacement ${i + 1} booted ${ms} ms after the kill`);
    }
    assert.doesNotMatch(srv.output, /times in a row soon after starting/);
    assert.equal((await request(`${url}/`)).status, 200);
    await srv.stop();
  });
});

describe('heartbeat watchdog', () => {
  test('a worker stuck in an endless loop is killed within timeout + 2 s and replaced, the log names the stuck function', async (t) => {
    const { srv, url } = await serve(['-k', 'sync', '-w', '2', '-t', '2', APP], { workers: 2 });
    t.after(() => srv.kill());
    const t0 = Date.now();
    const stuck = request(`${url}/spin`).catch(() => 'cut');
    await sleep(200);
    // Other requests keep succeeding on the other worker meanwhile.
    while (Date.now() - t0 < 1700) assert.equal((await request(`${url}/pid`)).status, 200);
    await srv.waitFor(/WORKER TIMEOUT \(pid:(\d+)\)/, 5000);
    const stuckPid = Number(/WORKER TIMEOUT \(pid:(\d+)\)/.exec(srv.output)![1]);
    while (srv.workers().includes(stuckPid) && Date.now() - t0 < 10_000) await sleep(20);
    // The master's part is bounded (timeout, its 200 ms tick, 1 s between ABRT and KILL); the
    // replacement's boot is not: Node's start-up takes seconds on a loaded machine.
    const goneAfter = Date.now() - t0;
    assert.ok(goneAfter <= 2000 + 2000, `killed after ${goneAfter} ms`);
    await srv.waitFor(/Worker booted/, 15_000, 3);
    assert.ok(!srv.workers().includes(stuckPid));
    assert.equal(srv.workers().length, 2);
    await srv.waitFor(new RegExp(`Worker \\(pid:${stuckPid}\\) has been stuck for [\\d.]+s, here:\\n\\s+at spinForever \\([^)]*app\\.cjs:\\d+:\\d+\\)`));
    assert.equal(await stuck, 'cut');
    for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/pid`)).status, 200);
    await srv.stop();
  });

  test('--timeout 0 disables it', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '-w', '1', '-t', '0', APP]);
    t.after(() => srv.kill());
    void request(`${url}/spin`).catch(() => 'cut');
    await sleep(2500);
    assert.doesNotMatch(srv.output, /WORKER TIMEOUT|has been stuck/);
    assert.equal(srv.workers().length, 1);
    // The worker's loop is stuck and cannot notice its master leave: take down the whole tree.
    srv.kill();
  });

  test('a stuck worker whose master is SIGKILLed exits within a few seconds instead of spinning on as an orphan', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '-w', '1', '-t', '30', APP]);
    t.after(() => srv.kill());
    const [worker] = srv.workers();
    t.after(() => isLive(worker!) && process.kill(worker!, 'SIGKILL'));
    void request(`${url}/spin`).catch(() => 'cut');
    await sleep(300);
    process.kill(srv.pid, 'SIGKILL');
    const t0 = Date.now();
    while (isLive(worker!) && Date.now() - t0 < 8000) await sleep(50);
    assert.ok(!isLive(worker!), `the stuck worker ${worker} still runs ${Date.now() - t0} ms after its master died`);
    await sleep(200);
    assert.match(srv.output, new RegExp(`Worker \\(pid:${worker}\\) is stuck and its master \\(pid:${srv.pid}\\) is gone; exiting`));
  });
});

describe('custom worker classes', () => {
  test('-k ./path/to/class.mjs loads a module with create(ctx) and serves through it', async (t) => {
    const cls = path.join(FIXTURES, 'apps', 'custom-class.mjs');
    const { srv, url } = await serve(['-k', cls, '-w', '1', APP]);
    t.after(() => srv.kill());
    await srv.waitFor(new RegExp(`Using worker: ${cls.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const r = await request(`${url}/pid`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-worker-class'], 'custom');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('a module without create() is a boot failure with one clear line', async (t) => {
    // app.cjs is a module, but not a worker class.
    const srv = start(['-k', APP.split(':')[0]!, '-b', '127.0.0.1:0', APP]);
    t.after(() => srv.kill());
    const exit = await srv.exited;
    assert.equal(exit.code, 3);
    await srv.waitFor(/Worker class ".*app\.cjs" does not export create\(ctx\)/);
  });
});
