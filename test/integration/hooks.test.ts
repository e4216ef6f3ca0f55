/**
 * Server hooks from the config file: each runs, in the right process, with the right arguments,
 * and a hook that throws does not take the master down.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FIXTURES, serve, sleep, tempDir } from '../helpers/server.js';

const DIR = path.join(FIXTURES, 'hooks');
type Line = { hook: string; pid: number; serverPid?: number; workerPid?: number | null; age?: number } & Record<string, unknown>;

function lines(file: string): Line[] {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  } catch {
    return [];
  }
}

async function until(file: string, pred: (ls: Line[]) => boolean, what: string, ms = 8000): Promise<Line[]> {
  const t0 = Date.now();
  for (;;) {
    const ls = lines(file);
    if (pred(ls)) return ls;
    if (Date.now() - t0 > ms) throw new Error(`${what} did not happen; hook log:\n${ls.map((l) => JSON.stringify(l)).join('\n')}`);
    await sleep(50);
  }
}

const has = (hook: string) => (ls: Line[]) => ls.some((l) => l.hook === hook);

test('every server hook runs with Gunicorn\'s arguments, in the right process', async (t) => {
  const log = path.join(tempDir(), 'hooks.jsonl');
  const { srv, url } = await serve(['-c', path.join(DIR, 'tsgunicorn.config.cjs'), '-k', 'async', '-w', '1', '-t', '1', 'app.cjs:app'], {
    cwd: DIR,
    env: { HOOK_LOG: log },
  });
  t.after(() => srv.kill());
  const master = srv.pid;
  const [first] = srv.workers();

  let ls = await until(log, has('post_worker_init'), 'boot hooks');
  const at = (hook: string) => ls.filter((l) => l.hook === hook);
  assert.deepEqual(at('on_starting'), [{ hook: 'on_starting', pid: master, serverPid: master, hasSettings: true }]);
  assert.deepEqual(at('when_ready'), [{ hook: 'when_ready', pid: master, serverPid: master }]);
  assert.deepEqual(at('pre_fork'), [{ hook: 'pre_fork', pid: master, serverPid: master, workerPid: null, age: 1 }]);
  assert.deepEqual(at('post_fork'), [{ hook: 'post_fork', pid: first, serverPid: master, workerPid: first, age: 1 }]);
  assert.deepEqual(at('post_worker_init'), [{ hook: 'post_worker_init', pid: first, workerPid: first, age: 1 }]);
  assert.ok(ls.findIndex((l) => l.hook === 'on_starting') < ls.findIndex((l) => l.hook === 'pre_fork'));

  assert.equal((await fetch(`${url}/hello?x=1`)).status, 200);
  ls = await until(log, has('post_request'), 'request hooks');
  assert.deepEqual(at('pre_request'), [{ hook: 'pre_request', pid: first, workerPid: first, age: 1, method: 'GET', url: '/hello?x=1' }]);
  assert.deepEqual(at('post_request'), [{ hook: 'post_request', pid: first, workerPid: first, age: 1, url: '/hello?x=1', status: 200 }]);

  process.kill(master, 'SIGTTIN');
  ls = await until(log, (l) => l.filter((x) => x.hook === 'post_worker_init').length === 2, 'a second worker');
  assert.deepEqual(at('nworkers_changed'), [{ hook: 'nworkers_changed', pid: master, serverPid: master, n: 2, old: 1 }]);
  const second = srv.workers().find((p) => p !== first)!;

  process.kill(second, 'SIGINT');
  ls = await until(log, (l) => l.some((x) => x.hook === 'child_exit' && x.workerPid === second), 'child_exit of the second worker');
  assert.deepEqual(at('worker_int'), [{ hook: 'worker_int', pid: second, workerPid: second, age: 2 }]);
  assert.deepEqual(
    at('child_exit').find((l) => l.workerPid === second),
    { hook: 'child_exit', pid: master, serverPid: master, workerPid: second, age: 2, exitCode: 0, signal: null },
  );
  assert.ok(at('worker_exit').some((l) => l.pid === second && l.serverPid === master));

  // Block the first worker's loop past --timeout: the master aborts it, and the abort hook runs
  // once the loop is free again (before the SIGKILL that follows a second later).
  await fetch(`${url}/block?ms=1500`).catch(() => null);
  ls = await until(log, has('worker_abort'), 'worker_abort');
  assert.deepEqual(at('worker_abort'), [{ hook: 'worker_abort', pid: first, workerPid: first, age: 1 }]);
  await srv.waitFor(/WORKER TIMEOUT/);

  process.kill(master, 'SIGHUP');
  ls = await until(log, has('on_reload'), 'on_reload');
  assert.deepEqual(at('on_reload'), [{ hook: 'on_reload', pid: master, serverPid: master }]);

  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  ls = lines(log);
  assert.deepEqual(at('on_exit'), [{ hook: 'on_exit', pid: master, serverPid: master }]);
  assert.equal(ls[ls.length - 1]!.hook, 'on_exit');
});

test('a hook that throws is logged and does not take the master down', async (t) => {
  const dir = tempDir();
  writeFileSync(
    path.join(dir, 'tsgunicorn.config.cjs'),
    `module.exports = {
       when_ready() { throw new Error('when_ready broke'); },
       pre_request() { throw new Error('pre_request broke'); },
       nworkers_changed: async () => { throw new Error('async hook broke'); },
     };`,
  );
  writeFileSync(path.join(dir, 'app.cjs'), 'exports.app = (req, res) => res.end("fine");');
  const { srv, url } = await serve(['-k', 'async', 'app.cjs:app'], { cwd: dir });
  t.after(() => srv.kill());
  const res = await fetch(url);
  assert.equal(await res.text(), 'fine');
  process.kill(srv.pid, 'SIGTTIN');
  await srv.waitFor(/Exception in nworkers_changed hook/);
  await srv.waitFor(/Exception in when_ready hook: when_ready broke/);
  await srv.waitFor(/Exception in pre_request hook/);
  assert.equal(srv.done, false);
  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
});
