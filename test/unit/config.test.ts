import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { formatSettings, resolveConfig } from '../../src/config/resolve.js';
import { shellSplit } from '../../src/config/shellsplit.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgunicorn-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const sub = mkdtempSync(path.join(dir, 'c-'));
  writeFileSync(path.join(sub, name), text);
  return sub;
}

describe('config precedence', () => {
  test('environment defaults < config file < TSGUNICORN_CMD_ARGS < command line', async () => {
    const cwd = write('tsgunicorn.config.json', JSON.stringify({ workers: 2, timeout: 5, keepalive: 7, bind: '127.0.0.1:1' }));
    const env = { WEB_CONCURRENCY: '9', PORT: '3000' };

    let r = await resolveConfig({ argv: [], env: {}, cwd: dir });
    assert.equal(r.settings.workers, 1);
    assert.equal(r.configFile, null);

    r = await resolveConfig({ argv: [], env, cwd: dir });
    assert.equal(r.settings.workers, 9, 'WEB_CONCURRENCY is the default');
    assert.deepEqual(r.settings.bind, ['0.0.0.0:3000'], 'PORT is the default');

    r = await resolveConfig({ argv: [], env, cwd });
    assert.equal(r.settings.workers, 2, 'the file beats the environment default');
    assert.deepEqual(r.settings.bind, ['127.0.0.1:1']);
    assert.equal(r.sources.workers, 'config file');

    r = await resolveConfig({ argv: [], env: { ...env, TSGUNICORN_CMD_ARGS: '-w 3 -t 6' }, cwd });
    assert.equal(r.settings.workers, 3, 'TSGUNICORN_CMD_ARGS beats the file');
    assert.equal(r.settings.timeout, 6);
    assert.equal(r.settings.keepalive, 7);

    r = await resolveConfig({ argv: ['-w', '4', '-b', '127.0.0.1:2', '-b', 'unix:/tmp/s'], env: { ...env, TSGUNICORN_CMD_ARGS: '-w 3 -t 6' }, cwd });
    assert.equal(r.settings.workers, 4, 'the command line beats everything');
    assert.equal(r.settings.timeout, 6);
    assert.deepEqual(r.settings.bind, ['127.0.0.1:2', 'unix:/tmp/s'], 'repeated -b replaces the file binds');
    assert.equal(r.sources.workers, 'command line');
  });

  test('the app comes from the command line, TSGUNICORN_CMD_ARGS or the file', async () => {
    const cwd = write('.tsgunicornrc.json', JSON.stringify({ app: 'file:app' }));
    assert.equal((await resolveConfig({ argv: [], env: {}, cwd })).settings.app, 'file:app');
    assert.equal((await resolveConfig({ argv: [], env: { TSGUNICORN_CMD_ARGS: 'env:app' }, cwd })).settings.app, 'env:app');
    assert.equal((await resolveConfig({ argv: ['cli:app'], env: { TSGUNICORN_CMD_ARGS: 'env:app' }, cwd })).settings.app, 'cli:app');
  });

  test('ESM config files with named exports, as Gunicorn config modules are written', async () => {
    const cwd = write('tsgunicorn.config.mjs', 'export const workers = 5;\nexport const worker_class = "async";\n');
    const r = await resolveConfig({ argv: [], env: {}, cwd });
    assert.equal(r.settings.workers, 5);
    assert.equal(r.settings.worker_class, 'async');
    assert.equal(r.configFile, path.join(cwd, 'tsgunicorn.config.mjs'));
  });

  test('a "tsgunicorn" key in package.json', async () => {
    const cwd = write('package.json', JSON.stringify({ name: 'x', tsgunicorn: { threads: 1, max_requests: 10 } }));
    assert.equal((await resolveConfig({ argv: [], env: {}, cwd })).settings.max_requests, 10);
  });

  test('a bad value in the file names the setting and the value', async () => {
    const cwd = write('tsgunicorn.config.json', JSON.stringify({ workers: 'many' }));
    await assert.rejects(resolveConfig({ argv: [], env: {}, cwd }), /Invalid value for workers: "many"/);
  });

  test('-c that does not exist', async () => {
    await assert.rejects(resolveConfig({ argv: ['-c', 'nope.js'], env: {}, cwd: dir }), /config: "nope.js": no such file/);
  });

  test('--print-config lines are name = value, sorted and aligned', async () => {
    const r = await resolveConfig({ argv: ['-w', '3'], env: {}, cwd: dir });
    const lines = formatSettings(r.settings).split('\n');
    const names = lines.map((l) => l.split(' ')[0]!);
    assert.deepEqual(names, [...names].sort());
    assert.ok(lines.includes(`workers${' '.repeat(lines[0]!.indexOf('=') - 'workers'.length)}= 3`), lines.join('\n'));
  });
});

describe('shellSplit', () => {
  test('splits like a POSIX shell', () => {
    assert.deepEqual(shellSplit('-w 2  -b 127.0.0.1:80'), ['-w', '2', '-b', '127.0.0.1:80']);
    assert.deepEqual(shellSplit(`--name 'my app' -e "A=b c" x\\ y`), ['--name', 'my app', '-e', 'A=b c', 'x y']);
    assert.deepEqual(shellSplit(`"a\\"b" 'c\\d' ""`), ['a"b', 'c\\d', '']);
    assert.deepEqual(shellSplit('   '), []);
  });
  test('unterminated quotes are errors', () => {
    assert.throws(() => shellSplit(`-n 'x`), /TSGUNICORN_CMD_ARGS.*unterminated single quote/);
    assert.throws(() => shellSplit(`-n "x`), /unterminated double quote/);
  });
});
