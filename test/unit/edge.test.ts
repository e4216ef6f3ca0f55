import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { parseArgs } from '../../src/config/cli-options.js';
import { addressList, certReqs, proxyProtocol, schemeHeaders } from '../../src/config/net-validators.js';
import { AllowList, parseNetwork } from '../../src/http/addresses.js';
import { serverTimeouts } from '../../src/http/edge.js';
import { parseProxyHeader, V2_SIGNATURE } from '../../src/http/proxy-protocol.js';
import { ForwardedScheme, schemeOf } from '../../src/http/proxy.js';

describe('PROXY protocol parser', () => {
  test('v1 TCP4 / TCP6, with the bytes after the header left alone', () => {
    const buf = Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n');
    const r = parseProxyHeader(buf, 'auto');
    assert.equal(r.state, 'found');
    if (r.state !== 'found') return;
    assert.deepEqual(r.info, { protocol: 'TCP4', clientAddress: '192.168.0.1', clientPort: 56324, proxyAddress: '192.168.0.11', proxyPort: 443 });
    assert.equal(buf.subarray(r.length).toString(), 'GET / HTTP/1.1\r\n');
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 2\r\n'), 'v1');
    assert.equal(six.state === 'found' && six.info.clientAddress, '2001:db8::1');
  });

  test('v1 refusals, as Gunicorn (InvalidProxyLine); UNKNOWN accepted as the specification says', () => {
    for (const line of [
      'PROXY TCP4 192.168.0.1 192.16...\r\n',
      'PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n',
      'PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n',
      'PROXY TCP4 ::1 ::1 1 2\r\n',
      'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n',
      `PROXY TCP4 ${'1'.repeat(120)}`,
    ]) {
      assert.equal(parseProxyHeader(Buffer.from(line), 'auto').state, 'invalid', line);
    }
    const unknown = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), 'auto');
    assert.deepEqual(unknown, { state: 'found', info: { protocol: 'UNKNOWN' }, length: 15 });
  });

  test('v2: IPv4, IPv6, LOCAL; bad version and UDP refused', () => {
    const v4 = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 12, 192, 168, 1, 10, 192, 168, 1, 1, 0x30, 0x39, 0x01, 0xbb]), Buffer.from('GET')]);
    const r = parseProxyHeader(v4, 'v2');
    assert.ok(r.state === 'found');
    assert.deepEqual(r.info, { protocol: 'TCP4', clientAddress: '192.168.1.10', proxyAddress: '192.168.1.1', clientPort: 12345, proxyPort: 443 });
    assert.equal(r.length, 28);
    const a6 = Buffer.alloc(36);
    a6.write('20010db8000000000000000000000001', 0, 'hex');
    a6.write('20010db8000000000000000000000002', 16, 'hex');
    a6.writeUInt16BE(54321, 32);
    a6.writeUInt16BE(80, 34);
    const r6 = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21, 0, 36]), a6]), 'auto');
    assert.ok(r6.state === 'found');
    assert.equal(r6.info.clientAddress, '2001:db8::1');
    assert.equal(r6.info.clientPort, 54321);
    assert.deepEqual(parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]), 'auto'), { state: 'found', info: { protocol: 'LOCAL' }, length: 16 });
    assert.equal(parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0, 0])]), 'auto').state, 'invalid');
    assert.equal(parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x12, 0, 12]), Buffer.alloc(12)]), 'auto').state, 'invalid');
  });

  test('incremental: more until decided; plain HTTP is "none" as soon as it differs; modes', () => {
    assert.equal(parseProxyHeader(Buffer.from('PRO'), 'auto').state, 'more');
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'), 'auto').state, 'more');
    assert.equal(parseProxyHeader(V2_SIGNATURE.subarray(0, 5), 'auto').state, 'more');
    assert.equal(parseProxyHeader(Buffer.from('G'), 'auto').state, 'none');
    assert.equal(parseProxyHeader(Buffer.from('PROPFIND / HTTP/1.1'), 'auto').state, 'none');
    assert.equal(parseProxyHeader(V2_SIGNATURE, 'v1').state, 'none');
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n'), 'v2').state, 'none');
  });
});

describe('allow lists', () => {
  test('addresses and CIDR networks (strict), IPv4-mapped peers, unix peers always allowed, *', () => {
    const l = new AllowList(['127.0.0.1', '::1', '10.0.0.0/8', '2001:db8::/32']);
    for (const ok of ['127.0.0.1', '::1', '10.2.3.4', '::ffff:10.2.3.4', '2001:db8:1::5', undefined]) assert.ok(l.allows(ok), String(ok));
    for (const no of ['127.0.0.2', '11.0.0.1', '2001:db9::1', '::2']) assert.ok(!l.allows(no), no);
    assert.ok(new AllowList(['*']).allows('203.0.113.9'));
    assert.ok(new AllowList(['::ffff:192.0.2.0/120']).allows('192.0.2.77'));
    assert.match(parseNetwork('192.168.1.1/24').error ?? '', /host bits/);
    assert.match(parseNetwork('10.0.0.0/33').error ?? '', /prefix/);
    assert.match(parseNetwork('example.com').error ?? '', /not an IP/);
  });
});

describe('edge settings', () => {
  test('validators', () => {
    assert.deepEqual(addressList('127.0.0.1, ::1,10.0.0.0/8', 'x'), ['127.0.0.1', '::1', '10.0.0.0/8']);
    assert.deepEqual(addressList(['*'], 'x'), ['*']);
    assert.throws(() => addressList('10.0.0.1/8', 'forwarded_allow_ips'), /forwarded_allow_ips.*host bits/);
    assert.equal(proxyProtocol(true, 'p'), 'auto');
    assert.equal(proxyProtocol('false', 'p'), 'off');
    assert.equal(proxyProtocol('V2', 'p'), 'v2');
    assert.throws(() => proxyProtocol('v3', 'proxy_protocol'), /proxy_protocol.*off, v1, v2 or auto/);
    assert.deepEqual(schemeHeaders({ 'x-forwarded-proto': 'https' }, 's'), { 'X-FORWARDED-PROTO': 'https' });
    assert.throws(() => schemeHeaders('X-Proto', 'secure_scheme_headers'), /secure_scheme_headers/);
    assert.equal(certReqs('2', 'c'), 2);
    assert.throws(() => certReqs(3, 'cert_reqs'), /cert_reqs/);
  });

  test('--proxy-protocol [MODE]: alone it means auto, and it does not swallow the app', () => {
    assert.deepEqual(parseArgs(['--proxy-protocol', 'app:x']), { values: { proxy_protocol: 'auto' }, app: 'app:x' });
    assert.deepEqual(parseArgs(['--proxy-protocol', 'v1', 'app:x']), { values: { proxy_protocol: 'v1' }, app: 'app:x' });
    assert.deepEqual(parseArgs(['app:x', '--proxy-protocol']), { values: { proxy_protocol: 'auto' }, app: 'app:x' });
    assert.deepEqual(parseArgs(['--proxy-protocol=v2', 'app:x']), { values: { proxy_protocol: 'v2' }, app: 'app:x' });
  });

  test('header timeout: node:http headersTimeout, checked often enough to close on time; bodies unbounded', () => {
    assert.deepEqual(serverTimeouts({ header_timeout: 30 }), { headersTimeout: 30_000, requestTimeout: 0, connectionsCheckingInterval: 1000 });
    assert.deepEqual(serverTimeouts({ header_timeout: 2 }), { headersTimeout: 2000, requestTimeout: 0, connectionsCheckingInterval: 500 });
    assert.equal(serverTimeouts({ header_timeout: 0 }).headersTimeout, 0);
  });
});

describe('forwarded scheme', () => {
  const make = (headers: string[], peer = '127.0.0.1', encrypted = false) => {
    const socket = new Socket();
    Object.defineProperty(socket, 'remoteAddress', { value: peer });
    if (encrypted) Object.defineProperty(socket, 'encrypted', { value: true });
    const req = new IncomingMessage(socket);
    req.rawHeaders = headers;
    const h: Record<string, string> = {};
    for (let i = 0; i < headers.length; i += 2) h[headers[i]!.toLowerCase()] = headers[i + 1]!;
    req.headers = h;
    return req;
  };
  const fs = new ForwardedScheme({
    forwarded_allow_ips: ['127.0.0.1'],
    secure_scheme_headers: { 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' },
  });

  test("Gunicorn's table: not allowed, none, one match, disagreement", () => {
    const untrusted = make(['X-Forwarded-Proto', 'https'], '134.213.44.18');
    assert.equal(fs.apply(untrusted), true);
    assert.equal(schemeOf(untrusted), 'http');
    const none = make(['Host', 'x']);
    assert.equal(fs.apply(none), true);
    assert.equal(schemeOf(none), 'http');
    const one = make(['X-Forwarded-Proto', 'https']);
    assert.equal(fs.apply(one), true);
    assert.equal(schemeOf(one), 'https');
    assert.equal(fs.apply(make(['X-Forwarded-Ssl', 'on', 'X-Forwarded-Proto', 'http'])), false);
    // Repeated, disagreeing: refused too; agreeing: fine.
    assert.equal(fs.apply(make(['X-Forwarded-Proto', 'https', 'X-Forwarded-Proto', 'http'])), false);
    assert.equal(fs.apply(make(['X-Forwarded-Proto', 'https', 'X-Forwarded-Ssl', 'on'])), true);
  });

  test('TLS is https unless a trusted front end says otherwise; unix peers are trusted', () => {
    assert.equal(schemeOf(make([], '127.0.0.1', true)), 'https');
    const down = make(['X-Forwarded-Proto', 'http'], '127.0.0.1', true);
    fs.apply(down);
    assert.equal(schemeOf(down), 'http');
    const unixPeer = make(['X-Forwarded-Proto', 'https'], undefined as unknown as string);
    fs.apply(unixPeer);
    assert.equal(schemeOf(unixPeer), 'https');
  });
});
