/**
 * Process settings (issue 3): --max-worker-memory, --user/--group/--initgroups, --umask,
 * --daemon with WINCH, --reload and --reload-extra-file. Real processes, real sockets.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';
import { lookupUser, primaryGroupOf } from '../../src/config/privileges.js';
import { FIXTURES, childrenOf, isAlive, run, serve, sleep, start, tempDir } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'process.cjs')}:app`;
const IS_ROOT = process.getuid?.() === 0;
const NOT_ROOT = IS_ROOT ? false : 'dropping privileges needs root (these tests run as uid ' + process.getuid?.() + ')';

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function get(url: string, opts: http.RequestOptions = { agent: false }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 10_000, ...opts }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`no answer from ${url} within 10 s`));
      })
      .on('error', reject);
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(50);
  }
}

describe('--max-worker-memory', () => {
  for (const [cls, keepAlive] of [
    ['sync', false],
    ['async', true],
  ] as const) {
    test(`${cls}${keepAlive ? ', keep-alive' : ''}: a worker past the limit is replaced; no request fails`, async (t) => {
      const { srv, url } = await serve(['-k', cls, '-w', '1', '--max-worker-memory', '100', APP]);
      t.after(() => srv.kill());
      const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
      t.after(() => agent && agent.destroy());
      const first = (await get(`${url}/ids`, { agent })).body;
      const firstPid = JSON.parse(first).pid as number;
      const pids = new Set<number>();
      let n = 0;
      // Each request keeps 15 MB more; a worker starts near 60 MB, so the limit is passed within a few.
      while (n < 40) {
        const r = await get(`${url}/alloc?mb=15`, { agent });
        assert.equal(r.status, 200, `request ${n} failed: ${r.status}`);
        pids.add(Number(r.body.trim().split(' ').pop()));
        n++;
        if (pids.size >= 2) break;
        await sleep(150);
      }
      assert.ok(pids.size >= 2, `the worker (pid ${firstPid}) was never replaced after ${n} requests`);
      await until(() => !srv.workers().includes(firstPid), 10_000, `the old worker ${firstPid} to exit`);
      await srv.waitFor(new RegExp(`Autorestarting worker \\(pid: ${firstPid}\\): memory usage \\d+ MB exceeds max_worker_memory 100 MB\\.`));
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }
});

describe('--user, --group, --initgroups', () => {
  test('workers run as --user nobody (its primary group, no supplementary groups of root); the master stays root', { skip: NOT_ROOT }, async (t) => {
    const uid = lookupUser('nobody');
    assert.ok(uid !== null, 'no user "nobody" on this system');
    const gid = primaryGroupOf(uid);
    const { srv, url } = await serve(['-w', '1', '--user', 'nobody', APP]);
    t.after(() => srv.kill());
    const ids = JSON.parse((await get(`${url}/ids`)).body);
    assert.equal(ids.uid, uid);
    assert.equal(ids.gid, gid);
    assert.deepEqual(ids.groups, [gid]);
    const masterUid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${srv.pid}/status`, 'utf8'))![1];
    assert.equal(masterUid, '0', 'the master dropped its privileges too');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('--group by number and --initgroups', { skip: NOT_ROOT }, async (t) => {
    const { srv, url } = await serve(['-w', '1', '--user', 'nobody', '--group', '4242', '--initgroups', APP]);
    t.after(() => srv.kill());
    const ids = JSON.parse((await get(`${url}/ids`)).body);
    assert.equal(ids.gid, 4242);
    assert.ok(ids.groups.includes(4242), `groups ${ids.groups} lack --group`);
    assert.ok(!ids.groups.includes(0), `groups ${ids.groups} kept root's group`);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('an unknown user or group, or a bad umask: one line naming the setting and the value, exit 2', async () => {
    for (const [args, line] of [
      [['--user', 'no-such-user-tsg'], /^tsgunicorn: error: Invalid value for user: "no-such-user-tsg": no such user$/],
      [['-g', 'no-such-group-tsg'], /^tsgunicorn: error: Invalid value for group: "no-such-group-tsg": no such group$/],
      [['--umask', '0o1777'], /^tsgunicorn: error: Invalid value for umask: "0o1777": must be between 0 and 0o777$/],
      [['--umask', 'rw-r--r--'], /^tsgunicorn: error: Invalid value for umask: "rw-r--r--": /],
    ] as const) {
      const r = await run([...args, APP]);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.output}`);
      assert.equal(r.output.trim().split('\n').length, 1, r.output);
      assert.match(r.output.trim(), line);
    }
  });
});

describe('--umask', () => {
  async function socketMode(t: { after(fn: () => void): void }, args: string[]): Promise<{ mode: number; uid: number; sock: string }> {
    const dir = tempDir();
    const sock = path.join(dir, 's.sock');
    const srv = start(['-b', `unix:${sock}`, '--log-level', 'debug', ...args, APP]);
    t.after(() => srv.kill());
    await srv.waitFor(/Worker booted/, 15_000);
    const st = statSync(sock);
    const r = await get('http://x/ids', { socketPath: sock, agent: false });
    assert.equal(r.status, 200);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    return { mode: st.mode & 0o777, uid: st.uid, sock };
  }

  test("unix socket files get the mode the umask leaves (default 0: srwxrwxrwx, as Gunicorn)", async (t) => {
    assert.equal((await socketMode(t, [])).mode, 0o777);
    assert.equal((await socketMode(t, ['--umask', '0o027'])).mode, 0o750);
    assert.equal((await socketMode(t, ['-m', '077'])).mode, 0o700);
  });

  test('with --user, the socket file belongs to the workers\' user', { skip: NOT_ROOT }, async (t) => {
    const { uid } = await socketMode(t, ['--user', 'nobody', '--umask', '0o077']);
    assert.equal(uid, lookupUser('nobody'));
  });
});

describe('--daemon', () => {
  /** Kills what a daemon left behind, whatever happened in the test. */
  function reap(pidfile: string): void {
    let pid = 0;
    try {
      pid = Number(readFileSync(pidfile, 'utf8').trim());
    } catch {
      return;
    }
    if (!pid || !isAlive(pid)) return;
    for (const c of childrenOf(pid)) {
      try {
        process.kill(c, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }

  test('-D returns 0 once the daemon is up; the pidfile names a detached master that serves; WINCH takes the workers to 0, TTIN and HUP bring them back', async (t) => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'master.pid');
    const log = path.join(dir, 'error.log');
    t.after(() => reap(pidfile));
    const r = await run(['-D', '-p', pidfile, '-w', '2', '-b', '127.0.0.1:0', '--error-logfile', log, APP], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.output);
    assert.ok(r.ms < 5000, `-D took ${r.ms} ms to return`);
    assert.equal(r.output, '', 'the command printed something');
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    assert.ok(isAlive(pid), `the pidfile names ${pid}, which is not running`);
    // Detached: a session of its own, no controlling terminal (fields 6 and 7 of /proc/PID/stat).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(fields[3]), pid, 'the daemon is not a session leader');
    assert.equal(Number(fields[4]), 0, 'the daemon has a controlling terminal');

    const port = Number(/Listening at: http:\/\/127\.0\.0\.1:(\d+) /.exec(readFileSync(log, 'utf8'))![1]);
    const url = `http://127.0.0.1:${port}`;
    await until(() => childrenOf(pid).length === 2, 10_000, '2 workers');
    await until(async () => (await get(`${url}/`).catch(() => ({ status: 0 }))).status === 200, 10_000, 'the daemon to serve');

    process.kill(pid, 'SIGWINCH');
    await until(() => childrenOf(pid).length === 0, 10_000, 'no worker after WINCH');
    await sleep(300);
    assert.ok(isAlive(pid), 'the master exited on WINCH');
    assert.equal(childrenOf(pid).length, 0, 'a worker came back by itself');
    assert.match(readFileSync(log, 'utf8'), /Handling signal: winch\n.*graceful stop of workers/);

    process.kill(pid, 'SIGTTIN');
    await until(() => childrenOf(pid).length === 1, 10_000, 'one worker after TTIN');
    await until(async () => (await get(`${url}/`).catch(() => ({ status: 0 }))).status === 200, 10_000, 'served after TTIN');

    process.kill(pid, 'SIGWINCH');
    await until(() => childrenOf(pid).length === 0, 10_000, 'no worker after the second WINCH');
    process.kill(pid, 'SIGHUP');
    await until(() => childrenOf(pid).length === 2, 10_000, '2 workers after HUP');
    await until(async () => (await get(`${url}/`).catch(() => ({ status: 0 }))).status === 200, 10_000, 'served after HUP');

    process.kill(pid, 'SIGTERM');
    await until(() => !isAlive(pid), 15_000, 'the daemon to stop on TERM');
    assert.ok(!existsSync(pidfile), 'the pidfile was left behind');
  });

  test('a daemon that cannot start: the command prints its error and exits non-zero', async (t) => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'master.pid');
    // A pidfile naming a live process (this test runner) stops the new master.
    writeFileSync(pidfile, `${process.pid}\n`);
    const r = await run(['-D', '-p', pidfile, '-b', '127.0.0.1:0', APP], { timeoutMs: 15_000 });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, new RegExp(`Already running on PID ${process.pid}`));
    assert.match(r.output, /the daemon exited during startup \(status 1\)/);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(process.pid));
  });

  test('WINCH is ignored when not daemonized', async (t) => {
    const { srv, url } = await serve(['-w', '1', APP]);
    t.after(() => srv.kill());
    const before = srv.workers();
    process.kill(srv.pid, 'SIGWINCH');
    await srv.waitFor(/SIGWINCH ignored\. Not daemonized/);
    await sleep(300);
    assert.deepEqual(srv.workers(), before);
    assert.equal((await get(`${url}/`)).status, 200);
    await srv.stop();
  });
});

describe('--reload', () => {
  function project(): { dir: string; write: (v: string) => void } {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'lib'));
    mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
    writeFileSync(path.join(dir, 'app.cjs'), "const { v } = require('./lib/v.cjs');\nexports.app = (req, res) => res.end(`${v} ${process.pid}`);\n");
    const write = (v: string) => writeFileSync(path.join(dir, 'lib', 'v.cjs'), v);
    write("exports.v = 'one';\n");
    return { dir, write };
  }

  const body = async (url: string) => (await get(url).catch(() => ({ body: '' }))).body;

  test('a changed source file replaces the workers; a syntax error keeps the master up and shows the error; the fix serves again', async (t) => {
    const { dir, write } = project();
    const { srv, url } = await serve(['--reload', '--chdir', dir, '-w', '1', 'app:app']);
    t.after(() => srv.kill());
    const [v1, pid1] = (await body(url)).split(' ');
    assert.equal(v1, 'one');

    write("exports.v = 'two';\n");
    await until(async () => (await body(url)).startsWith('two '), 10_000, 'the new code to answer');
    const pid2 = (await body(url)).split(' ')[1];
    assert.notEqual(pid2, pid1, 'the worker was not replaced');
    await srv.waitFor(new RegExp(`Worker reloading: ${path.join(dir, 'lib', 'v.cjs').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} modified`));

    write("exports.v = 'three' }}\n");
    await srv.waitFor(/Worker failed to boot; fix the app and save/, 10_000);
    await srv.waitFor(/SyntaxError: Unexpected token/);
    await srv.waitFor(/lib\/v\.cjs:1\n/); // the log says where the error is
    assert.ok(!srv.done, 'the master exited on a syntax error');
    // The workers that loaded the last good code go on serving meanwhile.
    assert.equal(await body(url), `two ${pid2}`);

    write("exports.v = 'four';\n");
    await until(async () => (await body(url)).startsWith('four '), 10_000, 'the fixed code to answer');
    await until(() => !srv.workers().includes(Number(pid2)), 10_000, 'the old worker to leave');

    // node_modules is not watched.
    const reloads = srv.output.match(/Worker reloading/g)!.length;
    writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    await sleep(800);
    assert.equal(srv.output.match(/Worker reloading/g)!.length, reloads, 'a change in node_modules reloaded');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('an app broken at start keeps the master up until it is fixed; --reload-extra-file watches other files', async (t) => {
    const { dir, write } = project();
    write('exports.v = ;\n');
    const extra = path.join(dir, 'templates', 'page.html');
    mkdirSync(path.dirname(extra));
    writeFileSync(extra, '<p>one</p>\n');
    const srv = start(['-b', '127.0.0.1:0', '--reload', '--reload-extra-file', extra, '--chdir', dir, '-w', '1', 'app:app']);
    t.after(() => srv.kill());
    const port = await srv.port();
    const url = `http://127.0.0.1:${port}`;
    await srv.waitFor(/Worker failed to boot; fix the app and save/, 15_000);
    await sleep(500);
    assert.ok(!srv.done, 'the master halted');

    write("exports.v = 'fixed';\n");
    await until(async () => (await body(url)).startsWith('fixed '), 10_000, 'the fixed app to answer');
    const pid = (await body(url)).split(' ')[1];

    writeFileSync(extra, '<p>two</p>\n');
    await until(async () => (await body(url)).split(' ')[1] !== pid, 10_000, 'a reload on the extra file');
    await srv.waitFor(/Worker reloading: .*templates\/page\.html modified/);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });
});
