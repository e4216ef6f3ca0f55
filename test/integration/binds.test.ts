/**
 * Binds: unix:PATH (file mode from --umask, removed on a clean stop), fd://N (a listening socket
 * handed down by the parent), [::1]:PORT, several -b at once, and --reuse-port.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REUSE_PORT_SUPPORTED } from '../../src/listeners/create.js';
import { cleanEnv, freePort, hasCommand, request, runCommand, spawnTracked, startWithFds } from '../helpers/edge.js';
import { BIN, FIXTURES, start, tempDir } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`;

async function ipv6Loopback(): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

describe('binds', { concurrency: 2, timeout: 60_000 }, () => {
  test('unix:PATH: mode from --umask, served (curl --unix-socket), removed on a clean stop', async (t) => {
    const dir = tempDir();
    const sock = path.join(dir, 'app.sock');
    const srv = start(['-b', `unix:${sock}`, '--umask', '077', '--log-level', 'debug', APP]);
    t.after(() => srv.kill());
    await srv.waitFor(new RegExp(`Listening at: unix:${sock.replace(/[.]/g, '\\.')} `));
    await srv.waitFor(/Worker booted/);
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o700, `mode ${(st.mode & 0o777).toString(8)}`);
    if (hasCommand('curl')) {
      const r = await runCommand('curl', ['-sS', '--max-time', '10', '--unix-socket', sock, 'http://localhost/via-curl']);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout) as { url: string; remoteAddress?: string; scheme: string };
      assert.equal(info.url, '/via-curl');
      assert.equal(info.remoteAddress, undefined); // a unix-socket peer has no IP address
      assert.equal(info.scheme, 'http');
    }
    const r2 = await request({ socketPath: sock, path: '/via-node' });
    assert.equal(r2.json().url, '/via-node');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    assert.equal(existsSync(sock), false, 'socket file removed on a clean stop');
  });

  test('unix:PATH with the default umask (0) is srwxrwxrwx, as in Gunicorn', async (t) => {
    const sock = path.join(tempDir(), 'app.sock');
    const srv = start(['-b', `unix:${sock}`, APP]);
    t.after(() => srv.kill());
    await srv.waitFor(/Booting worker/);
    assert.equal(statSync(sock).mode & 0o777, 0o777);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('several -b: IPv4, [::1]:PORT and a unix socket served by the same workers', async (t) => {
    const v6 = await ipv6Loopback();
    const sock = path.join(tempDir(), 'multi.sock');
    const args = ['-b', '127.0.0.1:0', ...(v6 ? ['-b', '[::1]:0'] : []), '-b', `unix:${sock}`, '-w', '2', '--log-level', 'debug', APP];
    const srv = start(args);
    t.after(() => srv.kill());
    const [m4] = await srv.waitFor(/Listening at: http:\/\/127\.0\.0\.1:(\d+) /);
    await srv.waitFor(/Worker booted/, 15_000, 2);
    const r4 = await request({ host: '127.0.0.1', port: Number(m4![1]), path: '/v4' });
    assert.equal(r4.json().remoteAddress, '127.0.0.1');
    if (v6) {
      const [m6] = await srv.waitFor(/Listening at: http:\/\/\[::1\]:(\d+) /);
      const r6 = await request({ host: '::1', port: Number(m6![1]), path: '/v6' });
      assert.equal(r6.json().remoteAddress, '::1');
      assert.equal(r6.json().remoteFamily, 'IPv6');
    } else t.diagnostic('no IPv6 loopback here: [::1] not tested');
    const ru = await request({ socketPath: sock, path: '/unix' });
    assert.equal(ru.json().url, '/unix');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('fd://N: a listening TCP socket handed down by the parent is served and named by its address', async (t) => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    t.after(() => holder.close());
    const { port } = holder.address() as net.AddressInfo;
    const fd = (holder as unknown as { _handle: { fd: number } })._handle.fd;
    const srv = startWithFds(['-b', 'fd://3', '--log-level', 'debug', APP], [fd]);
    t.after(() => srv.kill());
    await srv.waitFor(new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} `));
    await srv.waitFor(/Worker booted/);
    // Our own copy must not take the connections: stop polling it.
    holder.close();
    const r = await request({ host: '127.0.0.1', port, path: '/from-fd' });
    assert.equal(r.json().url, '/from-fd');
    assert.notEqual(r.json().pid, process.pid);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('fd://N on a unix socket: named unix:PATH, and its file is left alone on stop (not ours)', async (t) => {
    const sock = path.join(tempDir(), 'passed.sock');
    // Bound but not listening here: tsgunicorn's workers listen and accept on it.
    const handle = (net as unknown as { _createServerHandle(p: string, port: number, type: number): { fd: number; close(): void } })._createServerHandle(sock, -1, -1);
    t.after(() => handle.close());
    const srv = startWithFds(['-b', 'fd://3', '--log-level', 'debug', APP], [handle.fd]);
    t.after(() => srv.kill());
    await srv.waitFor(/Listening at: (\S+) /);
    await srv.waitFor(new RegExp(`Listening at: unix:${sock.replace(/[.]/g, '\\.')} `));
    await srv.waitFor(/Worker booted/);
    const r = await request({ socketPath: sock, path: '/x' });
    assert.equal(r.json().url, '/x');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    assert.ok(existsSync(sock), 'an inherited socket file is not removed');
  });

  test('fd:// that is not a socket: one clear line, exit 2', async () => {
    const srv = start(['-b', 'fd://0', APP]);
    const exit = await srv.exited;
    assert.notEqual(exit.code, 0);
    await srv.waitFor(/bind/);
    assert.doesNotMatch(srv.output, /\n\s+at /);
  });

  test('--reuse-port', async (t) => {
    const port = await freePort();
    const args = ['--reuse-port', '-b', `127.0.0.1:${port}`, '--log-level', 'debug', APP];
    const a = spawnTracked(process.execPath, [BIN, ...args], { env: cleanEnv() });
    t.after(() => a.kill());
    await a.waitFor(/Worker booted/);
    if (!REUSE_PORT_SUPPORTED) {
      assert.match(a.output, /--reuse-port needs Node 22\.12 or later \(this is Node 20\.[\d.]+\); binding without SO_REUSEPORT/);
      const r = await request({ host: '127.0.0.1', port, path: '/' });
      assert.equal(r.status, 200);
      t.diagnostic(`Node ${process.versions.node}: a one-line notice, served without SO_REUSEPORT`);
    } else {
      // A second server binds the same address while the first runs; the kernel spreads connections.
      const b = spawnTracked(process.execPath, [BIN, ...args], { env: cleanEnv() });
      t.after(() => b.kill());
      await b.waitFor(/Worker booted/);
      assert.doesNotMatch(b.output, /in use/);
      const pids = new Set<number>();
      for (let i = 0; i < 60 && pids.size < 2; i++) pids.add((await request({ host: '127.0.0.1', port, path: '/' })).json<{ pid: number }>().pid);
      assert.equal(pids.size, 2, 'both servers answered on the one port');
      assert.deepEqual(await b.stop(), { code: 0, signal: null });
    }
    assert.deepEqual(await a.stop(), { code: 0, signal: null });
  });
});
