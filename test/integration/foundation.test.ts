/**
 * The foundation, end to end: real bin/tsgunicorn processes on real sockets.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, isAlive, run, serve, sleep, tempDir } from '../helpers/server.js';

const APP = path.join(FIXTURES, 'apps', 'app.cjs');

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

describe('a supervised pool of async workers', () => {
  test('serves from exactly 2 workers, replaces a killed one within a second, and stops gracefully', async (t) => {
    const { srv, url } = await serve(['-w', '2', '-k', 'async', '--graceful-timeout', '10', `${APP}:app`], { workers: 2 });
    t.after(() => srv.kill());

    const first = await get(`${url}/`);
    assert.equal(first.status, 200);
    assert.match(first.body, /^ok \d+\n$/);

    const workers = srv.workers();
    assert.equal(workers.length, 2, `expected 2 worker processes, found ${workers.join(', ')}`);
    assert.match(readFileSync(`/proc/${srv.pid}/cmdline`, 'utf8'), /^tsgunicorn: master \[/);
    assert.match(readFileSync(`/proc/${workers[0]}/cmdline`, 'utf8'), /^tsgunicorn: worker \[/);

    process.kill(workers[0]!, 'SIGKILL');
    const took = await until(
      () => {
        const now = srv.workers();
        return now.length === 2 && !now.includes(workers[0]!);
      },
      1000,
      'the killed worker is replaced',
    );
    assert.ok(took <= 1000);
    await srv.waitFor(/Worker booted/, 5000, 3);
    for (let i = 0; i < 10; i++) assert.equal((await get(`${url}/`)).status, 200);
    await srv.waitFor(new RegExp(`Worker \\(pid:${workers[0]}\\) was sent SIGKILL! Perhaps out of memory\\?`));

    // A request in flight when SIGTERM arrives completes; the master exits 0 in time.
    const inFlight = get(`${url}/slow?ms=1500`);
    await sleep(300);
    const t0 = Date.now();
    const exit = srv.stop('SIGTERM');
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^slow done \d+/);
    assert.deepEqual(await exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 10_000);
    await srv.waitFor(/Handling signal: term/);
    await srv.waitFor(/Shutting down: Master/);
    for (const pid of srv.workers()) assert.fail(`worker ${pid} outlived the master`);
  });

  test('logs the startup lines a Gunicorn user knows, writes and removes the pidfile', async (t) => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'master.pid');
    const { srv, url } = await serve(['-k', 'async', '-p', pidfile, '-n', 'myapp', `${APP}:app`]);
    t.after(() => srv.kill());
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(srv.pid));
    assert.equal((await get(url)).status, 200);
    await srv.waitFor(/\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] Starting tsgunicorn \d+\.\d+\.\d+/);
    await srv.waitFor(new RegExp(`\\[INFO\\] Listening at: http://127\\.0\\.0\\.1:\\d+ \\(${srv.pid}\\)`));
    await srv.waitFor(/\[INFO\] Using worker: async/);
    await srv.waitFor(/\[INFO\] Booting worker with pid: \d+/);
    assert.match(readFileSync(`/proc/${srv.pid}/cmdline`, 'utf8'), /^tsgunicorn: master \[myapp\]/);
    assert.deepEqual(await srv.stop('SIGINT'), { code: 0, signal: null });
    assert.equal(existsSync(pidfile), false);
  });

  test('SIGQUIT stops at once, without waiting for requests in flight', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '--graceful-timeout', '20', `${APP}:app`]);
    t.after(() => srv.kill());
    const inFlight = get(`${url}/slow?ms=8000`).catch((err: Error) => err);
    await sleep(300);
    const t0 = Date.now();
    assert.deepEqual(await srv.stop('SIGQUIT'), { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 3000, 'quick stop took too long');
    assert.ok((await inFlight) instanceof Error, 'the in-flight request was not cut');
  });

  test('a throwing handler gets a 500 and the worker lives on', async (t) => {
    const { srv, url } = await serve(['-k', 'async', `${APP}:app`]);
    t.after(() => srv.kill());
    const pid = (await get(`${url}/pid`)).body;
    const res = await get(`${url}/throw`);
    assert.equal(res.status, 500);
    assert.match(res.body, /Internal Server Error/);
    assert.equal((await get(`${url}/pid`)).body, pid);
    await srv.waitFor(/\[ERROR\] Error handling request \/throw/);
    await srv.waitFor(/boom from the app/);
    await srv.stop();
  });
});

describe('boot failures halt the master instead of respawning', () => {
  const cases: [string, string, number, RegExp][] = [
    ['a missing module', 'nosuch.cjs:app', 3, /Failed to find module/],
    ['a missing attribute', `${APP}:nosuch`, 4, /Failed to find attribute "nosuch"/],
    ['an app that is not callable', `${APP}:notcallable`, 4, /Application object must be callable/],
    ['a module that throws on import', `${path.join(FIXTURES, 'apps', 'throws.cjs')}:app`, 3, /this app is broken at import time/],
  ];
  for (const [what, spec, status, line] of cases) {
    test(`${what} exits ${status}`, async () => {
      const r = await run(['-w', '2', '-b', '127.0.0.1:0', spec]);
      assert.equal(r.code, status, r.output);
      assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
      assert.match(r.output, line);
      assert.match(r.output, status === 3 ? /Reason: Worker failed to boot\./ : /Reason: App failed to load\./);
      // Two workers booted once each: no respawn loop.
      assert.ok((r.output.match(/Booting worker/g) ?? []).length <= 2, r.output);
      assert.ok(r.output.trim().split('\n').length < 20, `too much output:\n${r.output}`);
    });
  }
});

describe('bad settings: one line naming the setting and the value, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['-w', 'abc', 'app:app'], /workers.*"abc"/],
    [['-b', 'nonsense', 'app:app'], /bind.*"nonsense"/],
    [['-b', '127.0.0.1:99999', 'app:app'], /bind.*"127\.0\.0\.1:99999"/],
    [['-k', 'nosuch', 'app:app'], /worker_class.*"nosuch"/],
    [['--threads', 'x', 'app:app'], /threads.*"x"/],
    [['--log-level', 'loud', 'app:app'], /loglevel.*"loud"/],
    [['--no-such-flag', 'app:app'], /unknown option '--no-such-flag'/],
    [['app:f(1+1)'], /Invalid app spec "app:f\(1\+1\)"/],
  ];
  for (const [args, line] of cases) {
    test(args.join(' '), async () => {
      const r = await run(args, { cwd: tempDir() });
      assert.equal(r.code, 2, r.output);
      const lines = r.output.trim().split('\n');
      assert.equal(lines.length, 1, r.output);
      assert.match(lines[0]!, line);
    });
  }

  test('no app at all', async () => {
    const r = await run([], { cwd: tempDir() });
    assert.equal(r.code, 2);
    assert.match(r.output, /No application module specified/);
  });
});

describe('config sources stack: file < TSGUNICORN_CMD_ARGS < command line', () => {
  function printed(output: string, name: string): string {
    const m = new RegExp(`^${name}\\s+= (.*)$`, 'm').exec(output);
    assert.ok(m, `no ${name} in:\n${output}`);
    return m[1]!;
  }

  test('each source wins over the one below it', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'tsgunicorn.config.json'), JSON.stringify({ workers: 3, timeout: 7, keepalive: 9, app: `${APP}:app` }));
    const base = ['--print-config'];

    let r = await run(base, { cwd: dir });
    assert.equal(r.code, 0, r.output);
    assert.equal(printed(r.output, 'workers'), '3');
    assert.equal(printed(r.output, 'app'), `${APP}:app`);

    r = await run(base, { cwd: dir, env: { TSGUNICORN_CMD_ARGS: "-w 4 --timeout '11'" } });
    assert.equal(printed(r.output, 'workers'), '4');
    assert.equal(printed(r.output, 'timeout'), '11');
    assert.equal(printed(r.output, 'keepalive'), '9');

    r = await run([...base, '-w', '5'], { cwd: dir, env: { TSGUNICORN_CMD_ARGS: '-w 4' } });
    assert.equal(printed(r.output, 'workers'), '5');
    assert.equal(printed(r.output, 'timeout'), '7');
  });

  test('-c names a JS config file; camelCase keys are accepted; an unknown key is an error', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'conf.cjs'), 'module.exports = { workerConnections: 17, bind: ["127.0.0.1:9999"] };');
    let r = await run(['-c', 'conf.cjs', '--print-config'], { cwd: dir });
    assert.equal(r.code, 0, r.output);
    assert.equal(printed(r.output, 'worker_connections'), '17');
    assert.equal(printed(r.output, 'bind'), '["127.0.0.1:9999"]');

    writeFileSync(path.join(dir, 'bad.cjs'), 'module.exports = { wrokers: 2 };');
    r = await run(['-c', 'bad.cjs', 'app:app'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.output, /wrokers.*unknown setting/);
  });

  test('--check-config loads the app: 0 when it loads, 1 when it does not', async () => {
    assert.equal((await run(['--check-config', `${APP}:app`])).code, 0);
    const bad = await run(['--check-config', `${APP}:nosuch`]);
    assert.equal(bad.code, 1);
    assert.match(bad.output, /Failed to find attribute/);
  });
});

describe('-e sets environment variables for the app', () => {
  test('the worker sees them', async (t) => {
    const { srv, url } = await serve(['-k', 'async', '-e', 'GREETING=hello world', `${APP}:app`]);
    t.after(() => srv.kill());
    assert.equal((await get(`${url}/env?name=GREETING`)).body, 'hello world');
    await srv.stop();
    assert.equal(isAlive(srv.pid), false);
  });
});

describe('an address held by another process', () => {
  test('is retried as Gunicorn does, then exit 1 (libuv defers the bind error; we must not serve on a random port)', async (t) => {
    const { createServer } = await import('node:http');
    const other = createServer((_req, res) => res.end('other'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    t.after(() => other.close());
    const port = (other.address() as { port: number }).port;
    const r = await run(['-k', 'async', '-b', `127.0.0.1:${port}`, `${APP}:app`]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, new RegExp(`Connection in use: http://127\\.0\\.0\\.1:${port}`));
    assert.match(r.output, /Can't connect to .*: address already in use/);
    assert.doesNotMatch(r.output, /Booting worker/);
  });
});

describe('--preload', () => {
  test('loads the app in the master first: a broken app fails before any worker is forked', async () => {
    const r = await run(['--preload', '-k', 'async', '-b', '127.0.0.1:0', `${APP}:nosuch`]);
    assert.equal(r.code, 4, r.output);
    assert.match(r.output, /Failed to find attribute "nosuch"/);
    assert.doesNotMatch(r.output, /Booting worker|Listening at/);
  });

  test('a good app still serves, from workers that load their own copy', async (t) => {
    const { srv, url } = await serve(['--preload', '-k', 'async', `${APP}:app`]);
    t.after(() => srv.kill());
    assert.match(await (await fetch(`${url}/pid`)).text(), new RegExp(`^ok ${srv.workers()[0]}`));
    await srv.stop();
  });
});

describe('a request body the app does not read, on a connection closed after the response', () => {
  // Lingering close: nginx, still writing such a body when the connection closed, answered 502.
  for (const args of [['-k', 'sync'], ['-k', 'async', '--keep-alive', '0']]) {
    test(`${args.join(' ')}: the client gets the response and may finish sending the body`, async (t) => {
      const { srv, port } = await serve([...args, '-w', '1', `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`]);
      t.after(() => srv.kill());
      const size = 1_000_000;
      const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let reply = '';
      sock.on('data', (d: Buffer) => (reply += d.toString()));
      const ended = new Promise((resolve) => sock.once('end', resolve));
      sock.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${'x'.repeat(1000)}`);
      await ended;
      assert.match(reply, /^HTTP\/1\.1 200 /);
      // The rest of the body, after the server's FIN: read and dropped, not refused.
      const written = await new Promise<string>((resolve) => {
        sock.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        sock.write(Buffer.alloc(size - 1000, 120), (err) => resolve(err ? ((err as NodeJS.ErrnoException).code ?? err.message) : 'ok'));
      });
      assert.equal(written, 'ok');
      const closed = new Promise((resolve) => sock.once('close', resolve));
      sock.end();
      await closed;
      await srv.stop();
    });
  }
});
