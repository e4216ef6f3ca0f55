/**
 * systemd: readiness notification (a unix datagram listener of the test's own stands in for
 * systemd's NOTIFY_SOCKET) and socket activation under a real systemd-socket-activate, including
 * the units in examples/systemd/ run as systemd would run them.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { cleanEnv, freePort, hasCommand, request, runCommand, spawnTracked } from '../helpers/edge.js';
import { BIN, FIXTURES, ROOT, Server, sleep, tempDir } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`;

/** A NOTIFY_SOCKET: python3 receives the datagrams and prints each as one JSON line. */
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("LISTENING"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

class NotifySocket {
  readonly path: string;
  readonly proc: Server;
  constructor(dir: string) {
    this.path = path.join(dir, 'notify.sock');
    this.proc = spawnTracked('python3', ['-c', LISTENER, this.path]);
  }
  async ready(): Promise<void> {
    await this.proc.waitFor(/"LISTENING"/);
  }
  /** Every message received so far (BARRIER=1, systemd-notify's own handshake, left out). */
  messages(): string[] {
    return this.proc.output
      .split('\n')
      .filter((l) => l.startsWith('"'))
      .map((l) => JSON.parse(l) as string)
      .filter((m) => m !== 'LISTENING' && m !== 'BARRIER=1');
  }
  /** Waits for the n-th message containing `field`. */
  async waitFor(field: string, n = 1, ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hits = this.messages().filter((m) => m.split('\n').includes(field));
      if (hits.length >= n) return hits[n - 1]!;
      if (Date.now() > deadline) throw new Error(`no ${field} (x${n}) on NOTIFY_SOCKET; got ${JSON.stringify(this.messages())}`);
      await sleep(50);
    }
  }
}

const haveTools = hasCommand('python3') && hasCommand('systemd-notify');
const haveActivate = hasCommand('systemd-socket-activate') && hasCommand('curl');

describe('systemd', { concurrency: 2, timeout: 90_000 }, () => {
  test('NOTIFY_SOCKET: READY=1 once every worker serves, RELOADING=1/READY=1 around HUP, WATCHDOG=1, STOPPING=1', { skip: !haveTools && 'needs python3 and systemd-notify' }, async (t) => {
    const notify = new NotifySocket(tempDir());
    t.after(() => notify.proc.kill());
    await notify.ready();
    const srv = spawnTracked(process.execPath, [BIN, '-w', '2', '-b', '127.0.0.1:0', '--log-level', 'debug', APP], {
      env: cleanEnv({ NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '400000' }),
    });
    t.after(() => srv.kill());
    const ready = await notify.waitFor('READY=1');
    // By the time READY=1 arrives, both workers have said they serve.
    assert.equal((srv.output.match(/Worker booted/g) ?? []).length, 2, srv.output);
    assert.match(ready, /^STATUS=Serving: 2 workers, \d+ requests served$/m);
    assert.match(ready, new RegExp(`^MAINPID=${srv.pid}$`, 'm'));
    await notify.waitFor('WATCHDOG=1', 2);

    process.kill(srv.pid, 'SIGHUP');
    const reloading = await notify.waitFor('RELOADING=1');
    assert.match(reloading, /^MONOTONIC_USEC=\d+$/m);
    await notify.waitFor('READY=1', 2);
    // The second READY=1 comes after the new generation booted: 4 "booted" lines in all.
    assert.ok((srv.output.match(/Worker booted/g) ?? []).length >= 4, srv.output);
    const order = notify.messages().filter((m) => /^(READY|RELOADING)=1/m.test(m)).map((m) => m.split('\n')[0]);
    assert.deepEqual(order, ['READY=1', 'RELOADING=1', 'READY=1']);

    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    await notify.waitFor('STOPPING=1');
  });

  test('socket activation: the inherited socket is served and the bind setting ignored', { skip: !haveActivate && 'needs systemd-socket-activate and curl' }, async (t) => {
    const dir = tempDir();
    const port = await freePort();
    const ignored = path.join(dir, 'ignored.sock');
    const srv = spawnTracked('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, process.execPath, BIN, '-b', `unix:${ignored}`, '-w', '2', APP], {
      env: cleanEnv(),
    });
    t.after(() => srv.kill());
    await srv.waitFor(/Listening on 127\.0\.0\.1:\d+ as 3/);
    // The first connection starts tsgunicorn; it waits in the backlog until a worker accepts.
    const r = await runCommand('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${port}/activated`]);
    assert.equal(r.code, 0, r.stderr + srv.output);
    assert.equal((JSON.parse(r.stdout) as { url: string }).url, '/activated');
    await srv.waitFor(/Using 1 socket\(s\) from systemd socket activation; the bind setting is ignored/);
    await srv.waitFor(new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} `));
    assert.equal(existsSync(ignored), false, 'the bind setting was ignored');
    const again = await request({ host: '127.0.0.1', port, path: '/again' });
    assert.equal(again.json().url, '/again');
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('examples/systemd: the units, run as systemd runs them (socket activation + Type=notify + ExecReload + KillMode=mixed)', { skip: !(haveActivate && haveTools) && 'needs systemd-socket-activate, curl, python3, systemd-notify' }, async (t) => {
    const service = readFileSync(path.join(ROOT, 'examples', 'systemd', 'tsgunicorn.service'), 'utf8');
    const socketUnit = readFileSync(path.join(ROOT, 'examples', 'systemd', 'tsgunicorn.socket'), 'utf8');
    const key = (unit: string, k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(unit)?.[1];
    assert.equal(key(service, 'Type'), 'notify');
    assert.equal(key(service, 'NotifyAccess'), 'all');
    assert.equal(key(service, 'KillMode'), 'mixed');
    assert.equal(key(service, 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(key(service, 'Requires'), 'tsgunicorn.socket');

    const dir = tempDir();
    const sock = path.join(dir, 'tsgunicorn.sock');
    const listen = key(socketUnit, 'ListenStream')!;
    assert.equal(listen, '/run/tsgunicorn.sock');
    // ExecStart as written, with the installed binary and app swapped for this checkout's.
    const exec = key(service, 'ExecStart')!.split(/\s+/);
    assert.match(exec[0]!, /node_modules\/\.bin\/tsgunicorn$/);
    const args = exec.slice(1).map((a) => (a === 'server.js:app' ? APP : a));

    const notify = new NotifySocket(dir);
    t.after(() => notify.proc.kill());
    await notify.ready();
    const srv = spawnTracked('systemd-socket-activate', ['-l', sock, '-E', `NOTIFY_SOCKET=${notify.path}`, process.execPath, BIN, ...args], { env: cleanEnv() });
    t.after(() => srv.kill());
    await srv.waitFor(/Listening on .* as 3/);
    const r = await runCommand('curl', ['-sS', '--max-time', '20', '--unix-socket', sock, 'http://localhost/unit']);
    assert.equal(r.code, 0, r.stderr + srv.output);
    assert.equal((JSON.parse(r.stdout) as { url: string }).url, '/unit');
    assert.match(await notify.waitFor('READY=1'), /STATUS=Serving: 4 workers/);
    await srv.waitFor(new RegExp(`Listening at: unix:${sock.replace(/[.]/g, '\\.')} `));

    // ExecReload, with $MAINPID as systemd fills it in.
    const reload = key(service, 'ExecReload')!.replace('$MAINPID', String(srv.pid)).split(' ');
    assert.equal((await runCommand(reload[0]!, reload.slice(1))).code, 0);
    await notify.waitFor('RELOADING=1');
    await notify.waitFor('READY=1', 2);
    const after = await runCommand('curl', ['-sS', '--max-time', '20', '--unix-socket', sock, 'http://localhost/after-reload']);
    assert.equal((JSON.parse(after.stdout) as { url: string }).url, '/after-reload');

    // KillMode=mixed: TERM to the main process only.
    assert.deepEqual(await srv.stop('SIGTERM'), { code: 0, signal: null });
    await notify.waitFor('STOPPING=1');
    assert.ok(existsSync(sock), "the socket belongs to systemd: it is not removed");
  });
});
