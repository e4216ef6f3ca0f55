/**
 * A real nginx, configured with examples/nginx/tsgunicorn.conf (socket path and listen address
 * replaced), in front of tsgunicorn on a unix socket. nginx runs as the test's user with every
 * path under a temporary directory, listening on 127.0.0.1 on a free port.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { cleanEnv, freePort, hasCommand, request, spawnTracked } from '../helpers/edge.js';
import { FIXTURES, ROOT, sleep, start, tempDir } from '../helpers/server.js';

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => existsSync(p)) ?? (hasCommand('nginx') ? 'nginx' : null);

function nginxConfig(dir: string, sock: string, port: number): string {
  const example = readFileSync(path.join(ROOT, 'examples', 'nginx', 'tsgunicorn.conf'), 'utf8');
  assert.match(example, /server unix:\/run\/tsgunicorn\.sock fail_timeout=0;/);
  assert.match(example, /keepalive 32;/);
  assert.match(example, /proxy_set_header X-Forwarded-Proto \$scheme;/);
  const site = example.replaceAll('unix:/run/tsgunicorn.sock', `unix:${sock}`).replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  // nginx drops its workers to "nobody" when started as root; keep them as us instead.
  const user = process.getuid?.() === 0 ? `user ${os.userInfo().username};\n` : '';
  return `daemon off;
master_process on;
worker_processes 1;
${user}pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`;
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await request({ host: '127.0.0.1', port, path: '/', timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing answers on port ${port}`);
    await sleep(100);
  }
}

describe('nginx in front, on a unix socket', { skip: !NGINX && 'nginx is not installed (.ci/run installs it)', timeout: 60_000 }, () => {
  for (const cls of ['gthread', 'async', 'sync'] as const) {
    test(`requests through nginx reach -k ${cls}, with the scheme nginx forwards`, async (t) => {
      const dir = tempDir();
      const sock = path.join(dir, 'tsgunicorn.sock');
      const port = await freePort();
      const classArgs = cls === 'gthread' ? ['-k', 'gthread', '--threads', '4'] : ['-k', cls];
      const srv = start([...classArgs, '-w', '2', '--keep-alive', '75', '-b', `unix:${sock}`, '--log-level', 'debug', `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`]);
      t.after(() => srv.kill());
      await srv.waitFor(/Worker booted/, 15_000, 2);

      writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, sock, port));
      const nginx = spawnTracked(NGINX!, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { env: cleanEnv() });
      t.after(() => nginx.kill());
      await waitForPort(port).catch((err: Error) => {
        throw new Error(`${err.message}\n${nginx.output}\n${existsSync(`${dir}/error.log`) ? readFileSync(`${dir}/error.log`, 'utf8') : ''}`);
      });

      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      t.after(() => agent.destroy());
      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) => request({ host: '127.0.0.1', port, path: `/n/${i}`, agent, headers: { 'X-Forwarded-Proto': 'https' } })),
      );
      for (const [i, r] of replies.entries()) {
        assert.equal(r.status, 200, r.body + readFileSync(path.join(dir, "error.log"), "utf8").slice(-2000));
        const info = r.json<{ url: string; scheme: string; remoteAddress?: string }>();
        assert.equal(info.url, `/n/${i}`);
        // nginx replaces the client's X-Forwarded-Proto with its own $scheme (http here), and a
        // unix-socket peer is trusted: the app sees what nginx said, not what the client claimed.
        assert.equal(info.scheme, 'http');
        assert.equal(info.remoteAddress, undefined);
      }
      // A body through the proxy.
      const post = await request({ host: '127.0.0.1', port, path: '/post', method: 'POST', body: 'x'.repeat(100_000), headers: { 'Content-Type': 'text/plain' } });
      assert.equal(post.status, 200);
      assert.equal(readFileSync(path.join(dir, 'error.log'), 'utf8').match(/\[(error|crit|alert|emerg)\]/g), null, readFileSync(path.join(dir, 'error.log'), 'utf8'));

      assert.deepEqual(await nginx.stop('SIGQUIT'), { code: 0, signal: null });
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }
});
