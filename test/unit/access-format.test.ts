// Expected timestamps below are UTC; Node re-reads TZ whenever it is assigned.
process.env.TZ = 'UTC';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import {
  DEFAULT_ACCESS_LOG_FORMAT,
  compileAccessFormat,
  type AccessRecord,
} from '../../src/log/access-format.js';

const START = new Date('2000-10-10T13:55:36.000Z');

function record(overrides: Partial<AccessRecord> = {}): AccessRecord {
  return {
    remoteAddress: '127.0.0.1',
    method: 'GET',
    target: '/',
    httpVersion: '1.1',
    status: 200,
    bytesSent: 1234,
    requestHeaders: { host: 'localhost:8000' },
    responseHeaders: { 'content-type': 'text/plain' },
    startTime: START,
    durationNs: 1_500_000n,
    pid: 4242,
    env: {},
    ...overrides,
  };
}

const fmt = (format: string, overrides: Partial<AccessRecord> = {}) => compileAccessFormat(format)(record(overrides));
const line = (overrides: Partial<AccessRecord> = {}) => fmt(DEFAULT_ACCESS_LOG_FORMAT, overrides);
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

test('default format: GET with query, referer and user agent', () => {
  assert.equal(
    line({
      target: '/a%20b?x=1&y=2',
      requestHeaders: { host: 'localhost', referer: 'http://example.com/from', 'user-agent': 'curl/8.5.0' },
    }),
    '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a%20b?x=1&y=2 HTTP/1.1" 200 1234 "http://example.com/from" "curl/8.5.0"',
  );
});

test('default format: POST without referer or user agent prints "-"', () => {
  assert.equal(
    line({ method: 'POST', target: '/submit', status: 201, bytesSent: 17 }),
    '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "POST /submit HTTP/1.1" 201 17 "-" "-"',
  );
});

test('b prints 0, not "-", when zero body bytes were sent (Gunicorn tests for None, not falsiness)', () => {
  assert.equal(
    line({ target: '/missing', status: 404, bytesSent: 0 }),
    '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /missing HTTP/1.1" 404 0 "-" "-"',
  );
});

test('HEAD over HTTP/1.0', () => {
  assert.equal(
    line({ method: 'HEAD', httpVersion: '1.0', bytesSent: 0, remoteAddress: '::1' }),
    '::1 - - [10/Oct/2000:13:55:36 +0000] "HEAD / HTTP/1.0" 200 0 "-" "-"',
  );
});

test('unknown byte count: b is "-", B is Python\'s None, missing remote address is "-"', () => {
  assert.equal(
    line({ bytesSent: null, remoteAddress: undefined }),
    '- - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 - "-" "-"',
  );
  assert.equal(fmt('%(B)s|%(B)d|%(b)s', { bytesSent: null }), 'None|-|-');
  assert.equal(fmt('%(B)s|%(B)d|%(b)s', { bytesSent: 0 }), '0|0|0');
});

test('u is the user of a Basic Authorization header', () => {
  const user = (authorization: string) => fmt('%(u)s', { requestHeaders: { authorization } });
  assert.equal(user(basic('alice:s3cr:et')), 'alice');
  assert.equal(user(`basic   ${Buffer.from('bob').toString('base64')}  `), 'bob');
  assert.equal(user(basic('zoë:pw')), 'zoë');
  assert.equal(user('Bearer abc.def'), '-');
  assert.equal(user(basic(':nouser')), '-');
  // Python's b64decode insists on padding; Node's decoder would have read "alice".
  assert.equal(user('Basic YWxpY2U'), '-');
  assert.equal(user(`Basic ${Buffer.from([0xff, 0x3a]).toString('base64')}`), '-');
  assert.equal(fmt('%(u)s'), '-');
});

test('double quotes in string atoms are escaped like SafeAtoms', () => {
  const ua = 'Mozilla/5.0 "quoted" \\ end';
  assert.equal(
    line({ requestHeaders: { 'user-agent': ua, referer: '"r"' } }),
    '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1234 "\\"r\\"" "Mozilla/5.0 \\"quoted\\" \\ end"',
  );
  assert.equal(fmt('%({x-q}i)s', { requestHeaders: { 'x-q': 'a"b' } }), 'a\\"b');
});

test('custom format with method, decoded path, query, status, B and a request header', () => {
  const format = '%(m)s|%(U)s|%(q)s|%(s)s|%(B)s|%({x-trace}i)s';
  assert.equal(
    fmt(format, { target: '/a%20b/c%2Fd?k=v%20w&z', requestHeaders: { 'x-trace': 'abc123' } }),
    'GET|/a b/c/d|k=v%20w&z|200|1234|abc123',
  );
  assert.equal(fmt(format, { method: 'DELETE', target: '/x', status: 204, bytesSent: 0 }), 'DELETE|/x||204|0|-');
});

test('U follows WSGI PATH_INFO: bytes read as latin-1, bad escapes kept, SCRIPT_NAME removed', () => {
  assert.equal(fmt('%(U)s', { target: '/caf%C3%A9' }), '/caf\u00c3\u00a9');
  assert.equal(fmt('%(U)s', { target: '/100%/%zz%4' }), '/100%/%zz%4');
  assert.equal(fmt('%(U)s', { target: '/app/x%20y', env: { SCRIPT_NAME: '/app' } }), '/x y');
});

test('absolute-form and fragment targets split like urlsplit', () => {
  assert.equal(
    fmt('%(r)s|%(U)s|%(q)s', { target: 'http://example.com:8080/p/q?a=1#frag' }),
    'GET http://example.com:8080/p/q?a=1#frag HTTP/1.1|/p/q|a=1',
  );
  assert.equal(fmt('%(U)s|%(q)s', { target: '//double/slash?x' }), '//double/slash|x');
});

test('header atoms are case-insensitive; repeated headers keep the last value', () => {
  const rec = {
    requestHeaders: { 'x-trace': 'T-1' },
    responseHeaders: { 'content-type': 'text/html', 'content-length': 5, 'set-cookie': ['a=1', 'b=2'] },
  };
  assert.equal(
    fmt('%({X-Trace}i)s %({Content-Type}o)s %({content-length}O)s %({set-cookie}o)s %({x-missing}o)s', rec),
    'T-1 text/html 5 b=2 -',
  );
});

test('env atoms are looked up case-insensitively', () => {
  assert.equal(
    fmt('%({REMOTE_USER}e)s %({remote_user}e)s %({nope}e)s', { env: { REMOTE_USER: 'carol' } }),
    'carol carol -',
  );
});

test('time atoms T, M, D, L for a known duration', () => {
  assert.equal(fmt('%(T)s %(M)s %(D)s %(L)s', { durationNs: 2_003_004_005n }), '2 2003 2003004 2.003004');
  assert.equal(fmt('%(T)s %(M)s %(D)s %(L)s', { durationNs: 999_999_999n }), '0 999 999999 0.999999');
  assert.equal(fmt('%(T)d %(M)d %(D)d %(L)s', { durationNs: 0n }), '0 0 0 0.000000');
});

test('t is strftime("[%d/%b/%Y:%H:%M:%S %z]") in local time', () => {
  const zero = { durationNs: 0n };
  assert.equal(fmt('%(t)s', zero), '[10/Oct/2000:13:55:36 +0000]');
  assert.equal(fmt('%(t)s', { ...zero, startTime: new Date('2024-02-03T04:05:06.999Z') }), '[03/Feb/2024:04:05:06 +0000]');
  process.env.TZ = 'America/Los_Angeles';
  try {
    assert.equal(fmt('%(t)s', { ...zero, startTime: new Date('2000-10-10T20:55:36Z') }), '[10/Oct/2000:13:55:36 -0700]');
    assert.equal(fmt('%(t)s', { ...zero, startTime: new Date('2000-01-05T20:00:00Z') }), '[05/Jan/2000:12:00:00 -0800]');
  } finally {
    process.env.TZ = 'UTC';
  }
});

test('t is when the line is logged, i.e. start plus duration, as in Gunicorn', () => {
  assert.equal(fmt('%(t)s', { durationNs: 2_500_000_000n }), '[10/Oct/2000:13:55:38 +0000]');
});

test('%% is a literal percent sign', () => {
  assert.equal(fmt('100%% %(s)s%%'), '100% 200%');
  assert.equal(fmt('no atoms'), 'no atoms');
});

test('width, flags and precision behave like Python %-formatting', () => {
  assert.equal(
    fmt('[%(m)-6s][%(s)5s][%(s)05d][%(s)-5d][%(D)+d][%(h).3s][%(m)06s][%(s)ld]'),
    '[GET   ][  200][00200][200  ][+1500][127][   GET][200]',
  );
});

test('unknown atoms print "-"; p, l and H have fixed shapes', () => {
  assert.equal(fmt('%(x)s %(zz)s %({x}z)s %(h)s %(H)s %(p)s %(l)s'), '- - - 127.0.0.1 HTTP/1.1 <4242> -');
  assert.equal(fmt('%(x)5s|'), '    -|');
});

test('malformed formats are rejected at compile time with ConfigError', () => {
  for (const bad of ['%(h', '"%(r)s" %(h)', '%h', '%s', 'done 100%', '%(h)x', '%(h)d', '%({x}i)i', '%(a) 5']) {
    assert.throws(
      () => compileAccessFormat(bad),
      (err: unknown) => err instanceof ConfigError && err.setting === 'access_log_format' && err.value === bad,
      bad,
    );
  }
});

test('a compiled format is reusable across records', () => {
  const render = compileAccessFormat('%(s)s %(U)s');
  assert.equal(render(record({ status: 500, target: '/one' })), '500 /one');
  assert.equal(render(record({ status: 301, target: '/two?x' })), '301 /two');
});
