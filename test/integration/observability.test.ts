/**
 * Logs, metrics and control, end to end with real processes: USR1 after logrotate, log levels and
 * JSON logs, captured app output, StatsD datagrams, Prometheus totals over several workers, the
 * health probes, and `tsgunicorn ctl` against the control socket.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, run, serve, sleep, start, tempDir, type Server } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'observe.cjs')}:app`;
const SLOW_BOOT_APP = `${path.join(FIXTURES, 'apps', 'observe.cjs')}:make()`;

interface Reply {
  status: number;
  body: string;
}

/** One request on a connection of its own. */
function request(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(probe: () => T | Promise<T>, ms: number, what: string, detail?: () => string): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(50);
  }
}

/** The metrics server's URL, as the master logs it (bound to port 0: no port can be taken from under it). */
async function metricsAt(srv: Server): Promise<string> {
  const [m] = await srv.waitFor(/Serving metrics at: (http:\/\/\S+)\/metrics/, 15_000);
  return m![1]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);

/** Sample values of a Prometheus text exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

function sumOf(m: Map<string, number>, name: string): number {
  let n = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) n += v;
  return n;
}

async function ctl(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return run(['ctl', ...args], { env, timeoutMs: 15_000 });
}

describe('logs', () => {
  test('after logrotate moves the logs and USR1 is sent, every later request is logged in the new files', async (t) => {
    const dir = tempDir();
    const access = path.join(dir, 'access.log');
    const error = path.join(dir, 'error.log');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const srv = start(['-b', `127.0.0.1:${port}`, '-k', 'sync', '-w', '2', '--log-level', 'debug', '--access-logfile', access, '--access-logformat', '%(p)s %(U)s', '--error-logfile', error, APP]);
    t.after(() => srv.kill());
    // The error log goes to a file, so readiness is read there.
    await until(() => lines(error).filter((l) => l.includes('Worker booted')).length >= 2, 15_000, 'two workers booted');

    for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/before-${i}`)).status, 200);
    await until(() => lines(access).length === 4, 5000, 'the first 4 access lines');

    renameSync(access, `${access}.1`);
    renameSync(error, `${error}.1`);
    process.kill(srv.pid, 'SIGUSR1');

    // Until each worker has reopened: two requests at once on two sync workers, one each, until both pids write to the new file.
    const pids = new Set(srv.workers().map((p) => `<${p}>`));
    let probes = 0;
    await until(
      async () => {
        await Promise.all([request(`${url}/slow?ms=100`), request(`${url}/slow?ms=100`)]);
        probes += 2;
        const seen = new Set(lines(access).map((l) => l.split(' ')[0]));
        return [...pids].every((p) => seen.has(p));
      },
      10_000,
      'both workers writing to the new access log',
    );

    const N = 20;
    for (let i = 0; i < N; i++) assert.equal((await request(`${url}/after-${i}`)).status, 200);
    process.kill(srv.pid, 'SIGTTIN'); // the master and a new worker write to the new error log
    await until(() => lines(error).some((l) => l.includes('Booting worker')), 10_000, 'a line in the new error log');
    await srv.stop();

    const moved = lines(`${access}.1`);
    const fresh = lines(access);
    for (let i = 0; i < N; i++) assert.ok(fresh.some((l) => l.endsWith(` /after-${i}`)), `/after-${i} is not in the new access log`);
    assert.ok(!moved.some((l) => l.includes('/after-')), `a later request went to the moved file:\n${moved.join('\n')}`);
    // No line lost: the moved file plus the new one hold every request.
    assert.equal(moved.length + fresh.length, 4 + probes + N);
    assert.ok(lines(`${error}.1`).some((l) => l.includes('Handling signal: usr1')));
    assert.ok(lines(error).some((l) => l.includes('[INFO] Handling signal: ttin')));
  });

  test('--log-level warning hides info lines and keeps warnings', async (t) => {
    const port = await freePort();
    const srv = start(['-b', `127.0.0.1:${port}`, '-w', '1', '--log-level', 'warning', APP]);
    t.after(() => srv.kill());
    await until(async () => (await request(`http://127.0.0.1:${port}/`).catch(() => null))?.status === 200, 15_000, 'the server answering');
    // A request line over --limit-request-line: Gunicorn's warning "Invalid request from ip=...".
    const r = await request(`http://127.0.0.1:${port}/${'x'.repeat(5000)}`);
    assert.equal(r.status, 400);
    await srv.waitFor(/\[WARNING\] Invalid request from ip=127\.0\.0\.1/);
    await srv.stop();
    assert.doesNotMatch(srv.output, /\[INFO\]|\[DEBUG\]/, srv.output);
  });

  test('--log-json: every error-log line is a JSON object; --access-log-json: one object per request', async (t) => {
    const { srv, url } = await serve(['-w', '1', '--log-json', '--access-log-json', APP]);
    t.after(() => srv.kill());
    assert.equal((await request(`${url}/status?code=404`, { headers: { 'x-request-id': 'abc-123', 'user-agent': 'obs-test' } })).status, 404);
    assert.equal((await request(`${url}/a?b=1`)).status, 200);
    await srv.waitFor(/"request_id"/, 5000, 2);
    await srv.stop();

    const records = srv.output
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          assert.fail(`not JSON: ${l}`);
        }
      });
    const errorLog = records.filter((r) => 'msg' in r);
    const accessLog = records.filter((r) => 'request_id' in r);
    assert.equal(errorLog.length + accessLog.length, records.length, 'a line that is neither');
    for (const r of errorLog) {
      assert.equal(typeof r.level, 'string');
      assert.equal(typeof r.time, 'number');
      assert.equal(typeof r.pid, 'number');
    }
    assert.ok(errorLog.some((r) => /^Booting worker with pid: \d+$/.test(String(r.msg)) && r.level === 'info'));
    assert.ok(errorLog.some((r) => r.msg === 'Shutting down: Master'));

    assert.equal(accessLog.length, 2);
    const [a, b] = accessLog as Record<string, unknown>[];
    assert.equal(a!.request_id, 'abc-123');
    assert.equal(a!.status, 404);
    assert.equal(a!.method, 'GET');
    assert.equal(a!.path, '/status');
    assert.equal(a!.query, 'code=404');
    assert.equal(a!.user_agent, 'obs-test');
    assert.equal(a!.remote_addr, '127.0.0.1');
    assert.equal(typeof a!.pid, 'number');
    assert.equal(typeof a!.request_time, 'number');
    assert.match(String(a!.time), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(b!.request_id), /^[0-9a-f-]{36}$/);
    assert.equal(b!.bytes, Buffer.byteLength(`ok ${b!.pid}\n`));
  });

  test('--capture-output sends what the app prints to the error log file', async (t) => {
    const dir = tempDir();
    const error = path.join(dir, 'error.log');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const srv = start(['-b', `127.0.0.1:${port}`, '-w', '1', '--log-level', 'debug', '--capture-output', '--error-logfile', error, APP]);
    t.after(() => srv.kill());
    await until(() => lines(error).some((l) => l.includes('Worker booted')), 15_000, 'the worker booted');
    assert.equal((await request(`${url}/print?text=hello-from-the-app`)).status, 200);
    await srv.stop();
    const text = readFileSync(error, 'utf8');
    assert.match(text, /^hello-from-the-app$/m);
    assert.match(text, /^err:hello-from-the-app$/m);
    assert.doesNotMatch(srv.output, /hello-from-the-app/);
  });
});

describe('StatsD', () => {
  test("a UDP listener receives Gunicorn's request, status, workers and log metrics with prefix and tags", async (t) => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    t.after(() => udp.close());
    const metrics: string[] = [];
    udp.on('message', (m) => metrics.push(...m.toString().split('\n')));
    const { port } = udp.address();

    const { srv, url } = await serve(['-w', '2', '--statsd-host', `127.0.0.1:${port}`, '--statsd-prefix', 'myapp', '--dogstatsd-tags', 'env:test,team:web', APP], { workers: 2 });
    t.after(() => srv.kill());
    for (let i = 0; i < 5; i++) assert.equal((await request(`${url}/`)).status, 200);
    assert.equal((await request(`${url}/status?code=404`)).status, 404);
    assert.equal((await request(`${url}/${'x'.repeat(5000)}`)).status, 400); // "Invalid request" warning

    const total = (re: RegExp) => metrics.reduce((n, m) => n + Number(re.exec(m)?.[1] ?? 0), 0);
    await until(() => total(/^myapp\.gunicorn\.requests:(\d+)\|c\|@1\.0\|#env:test,team:web$/) === 6, 5000, `6 requests counted; got:\n${metrics.join('\n')}`);
    await until(() => metrics.some((m) => /^myapp\.gunicorn\.workers:2\|g\|#env:test,team:web$/.test(m)), 5000, 'the workers gauge');
    await until(() => total(/^myapp\.gunicorn\.log\.warning:(\d+)\|c\|@1\.0\|#env:test,team:web$/) >= 1, 5000, 'the warning counted');
    assert.equal(total(/^myapp\.gunicorn\.request\.status\.200:(\d+)\|c\|@1\.0\|#env:test,team:web$/), 5);
    assert.equal(total(/^myapp\.gunicorn\.request\.status\.404:(\d+)\|c\|@1\.0\|#env:test,team:web$/), 1);
    const timings = metrics.filter((m) => /^myapp\.gunicorn\.request\.duration:\d+(\.\d+)?\|ms\|#env:test,team:web$/.test(m));
    assert.equal(timings.length, 6, metrics.join('\n'));
    await srv.stop();
  });
});

describe('Prometheus', () => {
  test('/metrics sums the requests sent across 2 workers', async (t) => {
    const { srv, url } = await serve(['-k', 'sync', '-w', '2', '--metrics-bind', '127.0.0.1:0', APP], { workers: 2 });
    const metrics = await metricsAt(srv);
    t.after(() => srv.kill());
    // Three at a time on two sync workers: both serve.
    for (let i = 0; i < 10; i++) {
      await Promise.all([request(`${url}/slow?ms=20`), request(`${url}/`), request(`${url}/status?code=503`)]);
    }
    await request(`${url}/`, { method: 'POST' });

    const res = await request(`${metrics}/metrics`);
    assert.equal(res.status, 200);
    const m = samples(res.body);
    assert.equal(sumOf(m, 'tsgunicorn_requests_total'), 31, res.body);
    assert.equal(m.get('tsgunicorn_requests_total{method="GET",status_class="2xx"}'), 20);
    assert.equal(m.get('tsgunicorn_requests_total{method="GET",status_class="5xx"}'), 10);
    assert.equal(m.get('tsgunicorn_requests_total{method="POST",status_class="2xx"}'), 1);
    assert.equal(m.get('tsgunicorn_request_duration_seconds_count'), 31);
    assert.equal(m.get('tsgunicorn_request_duration_seconds_bucket{le="+Inf"}'), 31);
    assert.ok(m.get('tsgunicorn_request_duration_seconds_bucket{le="0.01"}')! < 31, 'the 20 ms requests are above 10 ms');
    assert.equal(m.get('tsgunicorn_workers'), 2);
    assert.equal(m.get('tsgunicorn_in_flight_requests'), 0);
    const pids = srv.workers();
    const served = pids.map((p) => m.get(`tsgunicorn_worker_requests_served{pid="${p}"}`) ?? 0);
    assert.ok(served.every((n) => n > 0), `both workers served: ${served.join(', ')}`);
    assert.equal(served.reduce((a, b) => a + b, 0), 31);
    for (const p of pids) assert.ok(m.get(`tsgunicorn_worker_rss_bytes{pid="${p}"}`)! > 1e6);
    for (const reason of ['exit', 'timeout', 'max_requests', 'memory', 'reload']) {
      assert.equal(m.get(`tsgunicorn_worker_restarts_total{reason="${reason}"}`), 0);
    }
    await srv.stop();
  });

  test('totals survive worker restarts, and restarts are counted by reason', async (t) => {
    const { srv, url } = await serve(['-k', 'sync', '-w', '2', '--max-requests', '5', '--metrics-bind', '127.0.0.1:0', APP], { workers: 2 });
    const metrics = await metricsAt(srv);
    t.after(() => srv.kill());
    for (let i = 0; i < 24; i++) {
      const r = await request(`${url}/`).catch((err: Error) => {
        throw new Error(`request ${i}: ${err.message}\n${srv.output}`);
      });
      assert.equal(r.status, 200);
    }
    let m = samples((await request(`${metrics}/metrics`)).body);
    assert.equal(sumOf(m, 'tsgunicorn_requests_total'), 24);
    assert.ok(m.get('tsgunicorn_worker_restarts_total{reason="max_requests"}')! >= 3, [...m].join('\n'));
    // A SIGKILL loses what the worker served since its last report (at most a second): none here, the scrape just collected it.
    process.kill(srv.workers()[0]!, 'SIGKILL'); // as the OOM killer would
    await until(
      async () => {
        m = samples((await request(`${metrics}/metrics`)).body);
        return (m.get('tsgunicorn_worker_restarts_total{reason="memory"}') ?? 0) >= 1;
      },
      10_000,
      'the SIGKILL counted',
    );
    assert.equal(sumOf(m, 'tsgunicorn_requests_total'), 24);
    process.kill(srv.pid, 'SIGHUP');
    await until(
      async () => {
        m = samples((await request(`${metrics}/metrics`)).body);
        // One per worker of the old generation (the SIGKILLed one's replacement may not have been spawned yet).
        return (m.get('tsgunicorn_worker_restarts_total{reason="reload"}') ?? 0) >= 1;
      },
      15_000,
      'the reload counted',
      () => `${[...m].filter(([k]) => k.includes('restarts')).join('\n')}\n${srv.output}`,
    );
    await srv.stop();
  });

  test('/healthz while the master is up; /readyz 503 while no worker serves (booting, stopping), 200 otherwise', async (t) => {
    const srv = start(['-b', '127.0.0.1:0', '-w', '1', '--graceful-timeout', '10', '--metrics-bind', '127.0.0.1:0', SLOW_BOOT_APP]);
    t.after(() => srv.kill());
    const metrics = await metricsAt(srv);
    const probe = async (p: string) => (await request(`${metrics}${p}`).catch(() => null))?.status ?? 0;
    const port = await srv.port();
    // The app's factory takes 1.5 s: the master is up, nothing serves yet.
    await until(async () => (await probe('/healthz')) === 200, 10_000, '/healthz');
    assert.equal(await probe('/readyz'), 503);
    await until(async () => (await probe('/readyz')) === 200, 15_000, '/readyz once the worker serves');
    assert.equal(await probe('/nope'), 404);

    const slow = request(`http://127.0.0.1:${port}/slow?ms=2000`);
    await sleep(200);
    srv.proc.kill('SIGTERM');
    await until(async () => (await probe('/readyz')) === 503, 5000, '/readyz 503 during the stop');
    assert.equal(await probe('/healthz'), 200);
    assert.equal((await slow).status, 200);
    await srv.exited;
    assert.equal(await probe('/healthz'), 0, 'the metrics server is gone with the master');
  });
});

describe('tsgunicorn ctl', () => {
  test('stats lists exactly the live worker pids and their request counts', async (t) => {
    const dir = tempDir();
    const sock = path.join(dir, 'ctl.sock');
    const { srv, url } = await serve(['-k', 'sync', '-w', '2', '--control-socket', sock, APP], { workers: 2 });
    t.after(() => srv.kill());
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    for (let i = 0; i < 4; i++) await Promise.all([request(`${url}/slow?ms=20`), request(`${url}/`)]);
    await request(`${url}/`);

    const r = await ctl(['--control-socket', sock, 'stats', '--json']);
    assert.equal(r.code, 0, r.output);
    const stats = JSON.parse(r.output) as {
      pid: number;
      uptime: number;
      workers_current: number;
      workers: { pid: number; age: number; booted: boolean; booted_at: string; requests: number; in_flight: number; last_heartbeat: number; rss: number; class: string; threads_busy: number | null }[];
    };
    assert.equal(stats.pid, srv.pid);
    assert.ok(stats.uptime >= 0);
    assert.deepEqual(stats.workers.map((w) => w.pid).sort((a, b) => a - b), srv.workers());
    assert.equal(stats.workers.reduce((n, w) => n + w.requests, 0), 9);
    for (const w of stats.workers) {
      assert.ok(w.requests > 0, 'both workers served');
      assert.equal(w.in_flight, 0);
      assert.equal(w.booted, true);
      assert.ok(Date.parse(w.booted_at) > 0);
      assert.ok(w.last_heartbeat < 5);
      assert.ok(w.rss > 1e6);
      assert.equal(w.class, 'sync');
      assert.equal(w.threads_busy, null);
    }

    const table = await ctl(['-s', sock, 'stats']);
    assert.equal(table.code, 0, table.output);
    assert.match(table.output, new RegExp(`master ${srv.pid}, running`));
    for (const p of srv.workers()) assert.match(table.output, new RegExp(`^${p} `, 'm'));
    assert.match(table.output, /^Total: 2 workers$/m);
    await srv.stop();
  });

  test('gthread: threads busy and requests in flight while a request runs', async (t) => {
    const dir = tempDir();
    const sock = path.join(dir, 'ctl.sock');
    const { srv, url } = await serve(['--threads', '4', '-w', '1', '--control-socket', sock, APP]);
    t.after(() => srv.kill());
    const slow = [request(`${url}/slow?ms=3000`), request(`${url}/slow?ms=3000`)];
    // Should an assertion fail, the server is killed under them: not an unhandled rejection then.
    for (const p of slow) p.catch(() => {});
    type Listed = { workers: { in_flight: number; threads_busy: number; class: string }[] };
    let listed: Listed | null = null;
    // Both requests reach the worker within a moment (later on a loaded machine): poll for them.
    await until(
      async () => {
        listed = JSON.parse((await ctl(['-s', sock, 'workers', '--json'])).output) as Listed;
        return listed.workers[0]!.in_flight === 2;
      },
      2500,
      'two requests in flight',
      () => JSON.stringify(listed),
    );
    const w = listed!.workers[0]!;
    assert.equal(w.class, 'gthread');
    assert.equal(w.threads_busy, 2);
    await Promise.all(slow);
    await srv.stop();
  });

  test('add and remove change the number of workers; reload replaces them; shutdown --graceful stops', async (t) => {
    const dir = tempDir();
    const sock = path.join(dir, 'ctl.sock');
    const { srv } = await serve(['-w', '2', '--control-socket', sock, APP], { workers: 2 });
    t.after(() => srv.kill());
    const count = async () => (JSON.parse((await ctl(['-s', sock, 'workers', '--json'])).output) as { count: number }).count;

    let r = await ctl(['-s', sock, 'add', '2']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /added 2 worker\(s\): 2 -> 4/);
    await until(async () => srv.workers().length === 4 && (await count()) === 4, 15_000, '4 workers');

    r = await ctl(['-s', sock, 'remove', '3', '--json']);
    assert.deepEqual(JSON.parse(r.output), { removed: 3, previous: 4, total: 1 });
    await until(async () => srv.workers().length === 1 && (await count()) === 1, 15_000, '1 worker');

    r = await ctl(['-s', sock, 'remove']);
    assert.match(r.output, /removed 0 worker\(s\): 1 -> 1/);

    const before = srv.workers();
    r = await ctl(['-s', sock, 'reload']);
    assert.equal(r.code, 0, r.output);
    // As HUP: the configuration (-w 2) is read again and every worker replaced.
    await until(() => srv.workers().length === 2 && !srv.workers().some((p) => before.includes(p)), 15_000, 'the workers replaced');

    r = await ctl(['-s', sock, 'reopen-logs']);
    assert.equal(r.code, 0, r.output);
    r = await ctl(['-s', sock, 'frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.output, /unknown command "frobnicate"/);

    r = await ctl(['-s', sock, 'shutdown', '--graceful']);
    assert.equal(r.code, 0, r.output);
    assert.equal((await srv.exited).code, 0);
    assert.ok(!existsSync(sock), 'the socket file is removed at exit');
    r = await ctl(['-s', sock, 'stats']);
    assert.equal(r.code, 1);
    assert.match(r.output, /cannot reach .*no master is listening there/);
  });

  test('the default socket is tsgunicorn-PID.ctl in $XDG_RUNTIME_DIR, found by ctl without options; --no-control-socket has none', async (t) => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const { srv } = await serve(['-w', '1', APP], { env });
    t.after(() => srv.kill());
    const sock = path.join(runtime, `tsgunicorn-${srv.pid}.ctl`);
    assert.ok(existsSync(sock), `no ${sock}`);
    writeFileSync(path.join(runtime, 'tsgunicorn-1.ctl'), ''); // not a socket, and not ours: ignored
    const r = await ctl(['workers', '--json'], env);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(
      (JSON.parse(r.output) as { workers: { pid: number }[] }).workers.map((w) => w.pid),
      srv.workers(),
    );
    await srv.stop();
    assert.ok(!existsSync(sock));

    const off = await serve(['-w', '1', '--no-control-socket', APP], { env });
    t.after(() => off.srv.kill());
    await off.srv.waitFor(/Control socket disabled/);
    assert.ok(!existsSync(path.join(runtime, `tsgunicorn-${off.srv.pid}.ctl`)));
    await off.srv.stop();
  });

  test('a pidfile puts the socket beside it, and ctl --pid finds it', async (t) => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'app.pid');
    const { srv } = await serve(['-w', '1', '--pid', pidfile, APP]);
    t.after(() => srv.kill());
    assert.ok(existsSync(path.join(dir, `tsgunicorn-${srv.pid}.ctl`)));
    const r = await ctl(['--pid', pidfile, 'stats', '--json']);
    assert.equal(r.code, 0, r.output);
    assert.equal((JSON.parse(r.output) as { pid: number }).pid, srv.pid);
    await srv.stop();
  });
});

