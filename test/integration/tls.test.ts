/**
 * HTTPS with Gunicorn's SSL settings, certificates made in the test with the openssl CLI: a CA,
 * a server certificate for localhost/127.0.0.1, a client certificate.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import tls from 'node:tls';
import { hasCommand, rawExchange, request, runCommand } from '../helpers/edge.js';
import { FIXTURES, run, start, tempDir, type Server } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:app`;
const WEB = `${path.join(FIXTURES, 'apps', 'edge.cjs')}:web`;
const haveOpenssl = hasCommand('openssl');

interface Pki {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

async function openssl(args: string[]): Promise<void> {
  const r = await runCommand('openssl', args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

async function makePki(): Promise<Pki> {
  const dir = tempDir();
  const p = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=tsgunicorn test CA']);
  writeFileSync(p('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    await openssl(['req', ...ec, '-keyout', p(`${who}.key`), '-out', p(`${who}.csr`), '-subj', `/CN=${who === 'server' ? 'localhost' : 'test client'}`]);
    await openssl(['x509', '-req', '-in', p(`${who}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${who}.pem`), '-days', '2', '-extfile', p(`${who}.ext`)]);
  }
  return { dir, ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

async function serveTls(args: string[], t: { after(fn: () => void): void }): Promise<{ srv: Server; port: number }> {
  const srv = start(['-b', '127.0.0.1:0', '--log-level', 'debug', ...args]);
  t.after(() => srv.kill());
  const [m] = await srv.waitFor(/Listening at: https:\/\/127\.0\.0\.1:(\d+) /);
  await srv.waitFor(/Worker booted/);
  return { srv, port: Number(m![1]) };
}

describe('TLS', { skip: !haveOpenssl && 'needs the openssl CLI', concurrency: 3, timeout: 60_000 }, () => {
  let pki: Pki;
  before(async () => {
    pki = await makePki();
  });

  for (const cls of ['sync', 'async', 'gthread'] as const) {
    test(`-k ${cls}: HTTPS serves; the app sees encrypted and scheme https; plain HTTP is refused`, async (t) => {
      const { srv, port } = await serveTls(['-k', cls, '--certfile', pki.cert, '--keyfile', pki.key, APP], t);
      const r = await request({ https: true, host: '127.0.0.1', port, path: '/secure', ca: readCa(pki) });
      const info = r.json<{ url: string; scheme: string; encrypted: boolean; remoteAddress: string }>();
      assert.deepEqual([info.url, info.scheme, info.encrypted, info.remoteAddress], ['/secure', 'https', true, '127.0.0.1']);
      if (hasCommand('curl')) {
        const c = await runCommand('curl', ['-sS', '--max-time', '10', '--cacert', pki.ca, `https://localhost:${port}/curl`]);
        assert.equal(c.code, 0, c.stderr);
        assert.equal((JSON.parse(c.stdout) as { scheme: string }).scheme, 'https');
      }
      // Plain HTTP on the TLS port: no HTTP answer, the connection closes, the worker lives.
      const plain = await rawExchange({ host: '127.0.0.1', port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 3000);
      assert.doesNotMatch(plain, /^HTTP\/1\.1 200/);
      const again = await request({ https: true, host: '127.0.0.1', port, path: '/again', ca: readCa(pki) });
      assert.equal(again.status, 200);
      assert.doesNotMatch(srv.output, /Worker \(pid:\d+\) (exited|was sent)/);
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }

  test('a fetch handler sees an https:// Request.url', async (t) => {
    const { srv, port } = await serveTls(['-k', 'async', '--certfile', pki.cert, '--keyfile', pki.key, WEB], t);
    const r = await request({ https: true, host: 'localhost', port, path: '/f?x=1', ca: readCa(pki) });
    assert.equal(r.json().url, `https://localhost:${port}/f?x=1`);
    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  });

  test('--cert-reqs 2 with --ca-certs: a client certificate is required; --cert-reqs 1: optional', async (t) => {
    const base = ['-k', 'async', '--certfile', pki.cert, '--keyfile', pki.key, '--ca-certs', pki.ca];
    const req2 = await serveTls([...base, '--cert-reqs', '2', APP], t);
    const withCert = await request({ https: true, host: '127.0.0.1', port: req2.port, path: '/', ca: readCa(pki), ...clientCert(pki) });
    assert.equal(withCert.json().authorized, true);
    await assert.rejects(request({ https: true, host: '127.0.0.1', port: req2.port, path: '/', ca: readCa(pki) }));
    assert.equal((await request({ https: true, host: '127.0.0.1', port: req2.port, path: '/', ca: readCa(pki), ...clientCert(pki) })).status, 200);

    const req1 = await serveTls([...base, '--cert-reqs', '1', APP], t);
    const none = await request({ https: true, host: '127.0.0.1', port: req1.port, path: '/', ca: readCa(pki) });
    assert.equal(none.json().authorized, false);
    const some = await request({ https: true, host: '127.0.0.1', port: req1.port, path: '/', ca: readCa(pki), ...clientCert(pki) });
    assert.equal(some.json().authorized, true);
    assert.deepEqual(await req2.srv.stop(), { code: 0, signal: null });
    assert.deepEqual(await req1.srv.stop(), { code: 0, signal: null });
  });

  test('ssl_context(config, default_ssl_context_factory) in the config file has the last word (TLS 1.3 only)', async (t) => {
    const config = path.join(pki.dir, 'tsgunicorn.config.mjs');
    writeFileSync(
      config,
      `export default {
  certfile: ${JSON.stringify(pki.cert)},
  keyfile: ${JSON.stringify(pki.key)},
  ssl_context(conf, defaults) {
    const options = defaults();
    options.minVersion = 'TLSv1.3';
    if (!conf.certfile) throw new Error('the settings are the first argument');
    return options;
  },
};
`,
    );
    const { srv, port } = await serveTls(['-c', config, '-k', 'async', APP], t);
    const ok = await request({ https: true, host: '127.0.0.1', port, path: '/', ca: readCa(pki) });
    assert.equal(ok.status, 200);
    const version = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: readCa(pki) }, () => {
        resolve(s.getProtocol() ?? '');
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.equal(version, 'TLSv1.3');
    await assert.rejects(request({ https: true, host: '127.0.0.1', port, path: '/', ca: readCa(pki), maxVersion: 'TLSv1.2' } as never));
    assert.deepEqual(await srv.stop(), { code: 0, signal: null }, srv.output);
  });

  test('a missing certificate file or bad ciphers: one line naming the setting, before any worker starts', async () => {
    const missing = await run(['--certfile', path.join(pki.dir, 'nope.pem'), APP]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.output, /certfile/);
    assert.doesNotMatch(missing.output, /Booting worker|\n\s+at /);
    const ciphers = await run(['--certfile', pki.cert, '--keyfile', pki.key, '--ciphers', 'NO-SUCH-CIPHER', APP]);
    assert.notEqual(ciphers.code, 0);
    assert.match(ciphers.output, /ciphers/);
    assert.doesNotMatch(ciphers.output, /Booting worker|\n\s+at /);
  });
});

function readCa(p: Pki): Buffer {
  return readCached(p.ca);
}
function clientCert(p: Pki): { cert: Buffer; key: Buffer } {
  return { cert: readCached(p.clientCert), key: readCached(p.clientKey) };
}
const cache = new Map<string, Buffer>();
import { readFileSync } from 'node:fs';
function readCached(file: string): Buffer {
  let b = cache.get(file);
  if (!b) cache.set(file, (b = readFileSync(file)));
  return b;
}
