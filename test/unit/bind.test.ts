import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindUrl, parseBind } from '../../src/listeners/bind.js';

test('bind specs parse as Gunicorn reads them', () => {
  assert.deepEqual(parseBind('127.0.0.1:8000'), { kind: 'tcp', raw: '127.0.0.1:8000', host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseBind('localhost'), { kind: 'tcp', raw: 'localhost', host: 'localhost', port: 8000 });
  assert.deepEqual(parseBind(':5000'), { kind: 'tcp', raw: ':5000', host: '0.0.0.0', port: 5000 });
  assert.deepEqual(parseBind('tcp://Example.COM:80'), { kind: 'tcp', raw: 'tcp://Example.COM:80', host: 'example.com', port: 80 });
  assert.deepEqual(parseBind('[::1]:8080'), { kind: 'tcp', raw: '[::1]:8080', host: '::1', port: 8080 });
  assert.deepEqual(parseBind('[::]'), { kind: 'tcp', raw: '[::]', host: '::', port: 8000 });
  assert.deepEqual(parseBind('unix:/run/app.sock'), { kind: 'unix', raw: 'unix:/run/app.sock', path: '/run/app.sock' });
  assert.deepEqual(parseBind('unix:///run/app.sock'), { kind: 'unix', raw: 'unix:///run/app.sock', path: '/run/app.sock' });
  assert.deepEqual(parseBind('fd://3'), { kind: 'fd', raw: 'fd://3', fd: 3 });
});

test('bad bind specs name the value and the problem', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['127.0.0.1:99999', /port/],
    ['127.0.0.1:http', /port/],
    ['::1:8000', /brackets/],
    ['[::1', /unclosed/],
    ['[nothex]:80', /IPv6/],
    ['fd://x', /file descriptor/],
    ['unix:', /empty/],
    ['bad host:80', /host name/],
  ];
  for (const [raw, why] of bad) {
    assert.throws(() => parseBind(raw), (e: Error) => e.message.includes(`bind: ${JSON.stringify(raw)}`) && why.test(e.message), raw);
  }
});

test('bindUrl prints what "Listening at:" shows', () => {
  assert.equal(bindUrl(parseBind('127.0.0.1:0'), 41234), 'http://127.0.0.1:41234');
  assert.equal(bindUrl(parseBind('[::1]:80')), 'http://[::1]:80');
  assert.equal(bindUrl(parseBind('unix:/tmp/a.sock')), 'unix:/tmp/a.sock');
  assert.equal(bindUrl(parseBind('fd://4')), 'fd://4');
});
