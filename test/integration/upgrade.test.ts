/**
 * USR2: a new master starts on the same listening sockets, both serve, the new one takes over
 * the pidfile once the old one has gone, and no request fails in between.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { FIXTURES, childrenOf, isAlive, serve, sleep, tempDir } from '../helpers/server.js';

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

function readPid(file: string): number | null {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

async function until<T>(f: () => T | null | undefined | false, ms: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(50);
  }
}

function killTree(pid: number): void {
  for (const c of childrenOf(pid)) {
    try {
      process.kill(c, 'SIGKILL');
    } catch {}
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
}

test('USR2 starts a new master on the same sockets; TERM to the old one promotes it; no request fails', async (t) => {
  const dir = tempDir();
  const pidfile = path.join(dir, 'app.pid');
  const { srv, url } = await serve(['-k', 'async', '-w', '1', '-p', pidfile, `${path.join(FIXTURES, 'apps', 'app.cjs')}:app`]);
  let newMaster = 0;
  t.after(() => {
    srv.kill();
    if (newMaster) killTree(newMaster);
  });
  const oldMaster = srv.pid;
  assert.equal(readPid(pidfile), oldMaster);

  // Connection-per-request traffic for the whole test.
  let failures = 0;
  let served = 0;
  const seen = new Set<number>();
  let running = true;
  const load = (async () => {
    while (running) {
      try {
        seen.add(Number((await get(`${url}/`)).split(' ')[1]));
        served++;
      } catch {
        failures++;
      }
      await sleep(5);
    }
  })();

  process.kill(oldMaster, 'SIGUSR2');
  newMaster = await until(() => readPid(`${pidfile}.2`), 10_000, 'PIDFILE.2');
  assert.notEqual(newMaster, oldMaster);
  assert.ok(existsSync(`${pidfile}.oldbin`), 'the old master moved its pidfile to .oldbin');
  await until(() => childrenOf(newMaster).length === 1, 10_000, 'the new master has its worker');
  await srv.waitFor(/Worker booted/, 10_000, 2);
  const oldWorker = childrenOf(oldMaster)[0]!;
  const newWorker = childrenOf(newMaster)[0]!;
  // Both masters' workers serve.
  await until(() => seen.has(oldWorker) && seen.has(newWorker), 10_000, `both workers serve (seen ${[...seen]})`);

  assert.deepEqual(await srv.stop('SIGTERM'), { code: 0, signal: null });
  await until(() => readPid(pidfile) === newMaster, 10_000, 'the new master promoted into PIDFILE');
  assert.equal(existsSync(`${pidfile}.2`), false);
  await srv.waitFor(/Master has been promoted\./);
  const before = served;
  await until(() => served >= before + 20, 10_000, 'service goes on after the old master left');
  running = false;
  await load;
  assert.equal(failures, 0, `${failures} of ${served + failures} requests failed`);

  process.kill(newMaster, 'SIGTERM');
  await until(() => !isAlive(newMaster), 10_000, 'the new master stops');
  assert.equal(existsSync(pidfile), false);
});

test('a new master that fails leaves the old one serving', async (t) => {
  const dir = tempDir();
  const pidfile = path.join(dir, 'app.pid');
  const app = path.join(dir, 'app.cjs');
  copyFileSync(path.join(FIXTURES, 'apps', 'app.cjs'), app);
  const { srv, url } = await serve(['-k', 'async', '-w', '1', '-p', pidfile, `${app}:app`]);
  t.after(() => srv.kill());
  // The deploy is broken: the new master's workers cannot load the app.
  writeFileSync(app, 'throw new Error("broken deploy");\n');
  process.kill(srv.pid, 'SIGUSR2');
  await srv.waitFor(/The new master \(pid: \d+\) exited \(code 3\); this master keeps serving/, 15_000);
  assert.equal(readPid(pidfile), srv.pid);
  assert.match(await get(`${url}/`), /^ok \d+/);
  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
});
