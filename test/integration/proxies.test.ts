/**
 * Trusted front ends: forwarded scheme headers (forwarded_allow_ips, secure_scheme_headers) and
 * the PROXY protocol (v1, v2; proxy_allow_ips), against every worker class.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import { hasCommand, rawExchange, request, runCommand } from '../helpers/edge.js';
import { FIXTURES, serve, start, tempDir } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`;
const WEB = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:web`;
const CLASSES = ['sync', 'async', 'gthread'] as const;

interface Info {
  url: string;
  scheme: string;
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  encrypted: boolean;
}

function body(raw: string): string {
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

function v2Header(family: 'v4' | 'v6', src: string, dst: string, sport: number, dport: number): Buffer {
  const sig = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
  const addr = (a: string) =>
    family === 'v4'
      ? Buffer.from(a.split('.').map(Number))
      : Buffer.from(
          (() => {
            const [h, t = ''] = a.split('::');
            const hs = h ? h.split(':') : [];
            const ts = t ? t.split(':') : [];
            return [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts].map((g) => g.padStart(4, '0')).join('');
          })(),
          'hex',
        );
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  const payload = Buffer.concat([addr(src), addr(dst), ports]);
  const head = Buffer.from([0x21, family === 'v4' ? 0x11 : 0x21, 0, payload.length]);
  return Buffer.concat([sig, head, payload]);
}

describe('forwarded scheme headers', { concurrency: 3, timeout: 60_000 }, () => {
  for (const cls of CLASSES) {
    test(`-k ${cls}: from a trusted peer X-Forwarded-Proto sets req.scheme and the fetch URL; contradictions are 400`, async (t) => {
      const { srv, port } = await serve(['-k', cls, APP]);
      t.after(() => srv.kill());
      const get = (headers: Record<string, string>) => request({ host: '127.0.0.1', port, path: '/s', headers });
      assert.equal((await get({})).json<Info>().scheme, 'http');
      assert.equal((await get({ 'X-Forwarded-Proto': 'https' })).json<Info>().scheme, 'https');
      assert.equal((await get({ 'X-Forwarded-Ssl': 'on' })).json<Info>().scheme, 'https');
      assert.equal((await get({ 'X-Forwarded-Protocol': 'ssl' })).json<Info>().scheme, 'https');
      assert.equal((await get({ 'X-Forwarded-Proto': 'http' })).json<Info>().scheme, 'http');
      const bad = await get({ 'X-Forwarded-Proto': 'https', 'X-Forwarded-Ssl': 'off' });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /Contradictory scheme headers/);
      // The log line may reach the pipe just after the response does.
      await srv.waitFor(/Invalid request from ip=127\.0\.0\.1: Contradictory scheme headers/, 5000);
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }

  test('a fetch handler sees https:// in Request.url only from a trusted peer', async (t) => {
    const trusted = await serve(['-k', 'async', WEB]);
    t.after(() => trusted.srv.kill());
    const r = await request({ host: '127.0.0.1', port: trusted.port, path: '/w', headers: { 'X-Forwarded-Proto': 'https', Host: 'example.com' } });
    assert.equal(r.json().url, 'https://example.com/w');
    const untrusted = await serve(['-k', 'async', '--forwarded-allow-ips', '10.0.0.0/8,2001:db8::/32', WEB]);
    t.after(() => untrusted.srv.kill());
    const u = await request({ host: '127.0.0.1', port: untrusted.port, path: '/w', headers: { 'X-Forwarded-Proto': 'https', Host: 'example.com' } });
    assert.equal(u.json().url, 'http://example.com/w');
    // From an untrusted peer, even contradictory headers are just headers.
    const c = await request({ host: '127.0.0.1', port: untrusted.port, path: '/w', headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Ssl': 'off' } });
    assert.equal(c.status, 200);
    assert.deepEqual(await trusted.srv.stop(), { code: 0, signal: null });
    assert.deepEqual(await untrusted.srv.stop(), { code: 0, signal: null });
  });

  test('$FORWARDED_ALLOW_IPS is the default; "*" trusts everyone; secure_scheme_headers from the config file', async (t) => {
    const env = await serve(['-k', 'async', APP], { env: { FORWARDED_ALLOW_IPS: '192.0.2.1' } });
    t.after(() => env.srv.kill());
    const e = await request({ host: '127.0.0.1', port: env.port, path: '/', headers: { 'X-Forwarded-Proto': 'https' } });
    assert.equal(e.json<Info>().scheme, 'http');
    const dir = tempDir();
    const config = path.join(dir, 'tsgunicorn.config.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(config, JSON.stringify({ forwarded_allow_ips: '*', secure_scheme_headers: { 'X-Scheme': 'https' } }));
    const custom = await serve(['-c', config, '-k', 'async', APP], { env: { FORWARDED_ALLOW_IPS: '192.0.2.1' } });
    t.after(() => custom.srv.kill());
    const a = await request({ host: '127.0.0.1', port: custom.port, path: '/', headers: { 'X-Scheme': 'https' } });
    assert.equal(a.json<Info>().scheme, 'https');
    const b = await request({ host: '127.0.0.1', port: custom.port, path: '/', headers: { 'X-Forwarded-Proto': 'https' } });
    assert.equal(b.json<Info>().scheme, 'http', 'only the configured headers count');
    assert.deepEqual(await env.srv.stop(), { code: 0, signal: null });
    assert.deepEqual(await custom.srv.stop(), { code: 0, signal: null });
  });
});

describe('PROXY protocol', { concurrency: 3, timeout: 60_000 }, () => {
  for (const cls of CLASSES) {
    test(`-k ${cls}: v1 and v2 (IPv4, IPv6) client addresses reach the app and the access log`, async (t) => {
      const { srv, port } = await serve(['-k', cls, '--proxy-protocol', '--access-logfile', '-', '--access-logformat', '%(h)s %(U)s', APP]);
      t.after(() => srv.kill());
      const target = { host: '127.0.0.1', port };
      const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

      const v1 = JSON.parse(body(await rawExchange(target, `PROXY TCP4 198.51.100.7 203.0.113.1 40000 443\r\n${req('/v1')}`))) as Info;
      assert.deepEqual([v1.remoteAddress, v1.remotePort, v1.remoteFamily], ['198.51.100.7', 40000, 'IPv4']);
      const v16 = JSON.parse(body(await rawExchange(target, `PROXY TCP6 2001:db8::7 2001:db8::1 40001 443\r\n${req('/v1-6')}`))) as Info;
      assert.deepEqual([v16.remoteAddress, v16.remotePort, v16.remoteFamily], ['2001:db8::7', 40001, 'IPv6']);
      const v2 = JSON.parse(body(await rawExchange(target, Buffer.concat([v2Header('v4', '192.0.2.33', '192.0.2.1', 50000, 80), Buffer.from(req('/v2'))])))) as Info;
      assert.deepEqual([v2.remoteAddress, v2.remotePort], ['192.0.2.33', 50000]);
      const v26 = JSON.parse(body(await rawExchange(target, Buffer.concat([v2Header('v6', '2001:db8::33', '2001:db8::1', 50001, 80), Buffer.from(req('/v2-6'))])))) as Info;
      assert.deepEqual([v26.remoteAddress, v26.remotePort], ['2001:db8::33', 50001]);
      // Without a header (auto mode), the connection is plain HTTP from its real peer.
      const plain = await request({ host: '127.0.0.1', port, path: '/plain' });
      assert.equal(plain.json<Info>().remoteAddress, '127.0.0.1');
      await srv.waitFor(/^127\.0\.0\.1 \/plain$/m);
      for (const line of ['198.51.100.7 /v1', '2001:db8::7 /v1-6', '192.0.2.33 /v2', '127.0.0.1 /plain']) await srv.waitFor(new RegExp(`^${line}$`, 'm'));
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }

  test('the address holds for every request of a keep-alive connection', async (t) => {
    const { srv, port } = await serve(['-k', 'async', '--proxy-protocol', 'v1', APP]);
    t.after(() => srv.kill());
    const raw = await rawExchange(
      { host: '127.0.0.1', port },
      'PROXY TCP4 198.51.100.9 203.0.113.1 1234 80\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const addresses = [...raw.matchAll(/"remoteAddress":"([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(addresses, ['198.51.100.9', '198.51.100.9']);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('a PROXY header from a peer outside --proxy-allow-from gets 403; a malformed one 400; v2 in v1 mode is not PROXY', async (t) => {
    const { srv, port } = await serve(['-k', 'async', '--proxy-protocol', 'v1', '--proxy-allow-from', '10.0.0.0/8', APP]);
    t.after(() => srv.kill());
    const target = { host: '127.0.0.1', port };
    const forbidden = await rawExchange(target, 'PROXY TCP4 198.51.100.7 203.0.113.1 40000 443\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(forbidden, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(forbidden, /Request forbidden/);
    await srv.waitFor(/Invalid request from ip=127\.0\.0\.1: Proxy request from 127\.0\.0\.1 not allowed/);
    // Without a PROXY header the same peer is served.
    assert.equal((await request({ host: '127.0.0.1', port, path: '/' })).status, 200);
    const v2 = await rawExchange(target, Buffer.concat([v2Header('v4', '192.0.2.33', '192.0.2.1', 1, 2), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));
    assert.match(v2, /^HTTP\/1\.1 400 /);

    const open = await serve(['-k', 'async', '--proxy-protocol', APP]);
    t.after(() => open.srv.kill());
    const malformed = await rawExchange({ host: '127.0.0.1', port: open.port }, 'PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(open.srv.output, /Invalid request from ip=127\.0\.0\.1: Invalid PROXY line/);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    assert.deepEqual(await open.srv.stop(), { code: 0, signal: null });
  });

  test('PROXY header, then TLS: the client address and https reach the app', { skip: !hasCommand('openssl') && 'needs the openssl CLI' }, async (t) => {
    const dir = tempDir();
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    const gen = await runCommand('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost']);
    assert.equal(gen.code, 0, gen.stderr);
    const srv = start(['-b', '127.0.0.1:0', '-k', 'async', '--proxy-protocol', '--certfile', cert, '--keyfile', key, '--log-level', 'debug', APP]);
    t.after(() => srv.kill());
    const [m] = await srv.waitFor(/Listening at: https:\/\/127\.0\.0\.1:(\d+) /);
    await srv.waitFor(/Worker booted/);
    const port = Number(m![1]);
    const text = await new Promise<string>((resolve, reject) => {
      const raw = net.connect({ host: '127.0.0.1', port }, () => {
        raw.write('PROXY TCP4 198.51.100.77 203.0.113.1 4444 443\r\n');
        const s = tls.connect({ socket: raw, rejectUnauthorized: false }, () => s.end('GET /tls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString()));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
      raw.on('error', reject);
    });
    const info = JSON.parse(body(text)) as Info;
    assert.deepEqual([info.remoteAddress, info.remotePort, info.scheme, info.encrypted], ['198.51.100.77', 4444, 'https', true]);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });
});
