import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadAppValue } from '../../src/app/load.js';
import { parseAppSpec } from '../../src/app/spec.js';
import { AppImportError, AppLoadError } from '../../src/errors.js';

// No package.json in the temp dir, so .js files are CommonJS on every Node version.
const FIXTURES: Record<string, string> = {
  'cjs-fn.cjs': `module.exports = function cjsApp(req, res) { res.end('cjs'); };\nmodule.exports.tag = 'cjs';\n`,
  'esm-default.mjs': `export default function esmApp() {}\nexport const tag = 'esm';\n`,
  'named.mjs': `export function app() {}\nexport const api = { v1: { handler() {} } };\n`,
  'hidden.cjs': `for (const name of ['app']) exports[name] = function hiddenApp() {};\n`,
  'compiled.cjs': `Object.defineProperty(exports, '__esModule', { value: true });\nexports.default = function compiledApp() {};\n`,
  'plain.js': `module.exports = function plainJs() {};\n`,
  'dir/index.cjs': `module.exports = function dirIndex() {};\n`,
  'factory.mjs': [
    'export function make(...args) { return { args }; }',
    'export async function makeLater(n) { await new Promise((r) => setTimeout(r, 1)); return n * 2; }',
    'export const api = { prefix: "api", create(name) { return this.prefix + ":" + name; } };',
    'export function broken() { throw new TypeError("cannot connect"); }',
    'export const notAFunction = 42;',
  ].join('\n'),
  'throws.cjs': `throw new Error('boom while loading\\nsecond line');\n`,
  'no-default.mjs': `export const alpha = 1;\nexport const beta = 2;\n`,
  'typed.ts': `const app = (req: unknown, res: { end(s: string): void }): void => res.end('ts');\nexport default app;\n`,
  'node_modules/cjs-pkg/package.json': JSON.stringify({ name: 'cjs-pkg', main: 'lib/main.js' }),
  'node_modules/cjs-pkg/lib/main.js': `exports.app = function pkgApp() {};\n`,
  'node_modules/@scope/esm-only/package.json': JSON.stringify({
    name: '@scope/esm-only',
    type: 'module',
    exports: { '.': { import: './index.js' }, './sub/*': { import: './sub/*.js' } },
  }),
  'node_modules/@scope/esm-only/index.js': `export default function esmOnly() {}\n`,
  'node_modules/@scope/esm-only/sub/extra.js': `export const app = function esmOnlySub() {};\n`,
};

let dir = '';

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tsgunicorn-load-'));
  for (const [name, text] of Object.entries(FIXTURES)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function load(raw: string): Promise<unknown> {
  return loadAppValue(parseAppSpec(raw), dir);
}

function nameOf(value: unknown): string {
  assert.equal(typeof value, 'function', `expected a function, got ${typeof value}`);
  return (value as { name: string }).name;
}

async function rejectsWith(raw: string, type: typeof AppImportError | typeof AppLoadError, message: RegExp): Promise<void> {
  await assert.rejects(load(raw), (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), `message should be one line: ${err.message}`);
    return true;
  });
}

describe('loadAppValue: finding the module', () => {
  it('takes module.exports of a CommonJS module as the default', async () => {
    assert.equal(nameOf(await load('cjs-fn.cjs')), 'cjsApp');
  });

  it("takes an ES module's default export", async () => {
    assert.equal(nameOf(await load('./esm-default.mjs')), 'esmApp');
  });

  it('resolves a path without its extension', async () => {
    assert.equal(nameOf(await load('plain')), 'plainJs');
    assert.equal(nameOf(await load('named:app')), 'app');
  });

  it("resolves a directory to its index file", async () => {
    assert.equal(nameOf(await load('dir')), 'dirIndex');
  });

  it('accepts an absolute path', async () => {
    assert.equal(nameOf(await load(path.join(dir, 'cjs-fn.cjs'))), 'cjsApp');
  });

  it('resolves a package by name from chdir', async () => {
    assert.equal(nameOf(await load('cjs-pkg:app')), 'pkgApp');
  });

  it('resolves an ESM-only package and its subpath exports', async () => {
    assert.equal(nameOf(await load('@scope/esm-only')), 'esmOnly');
    assert.equal(nameOf(await load('@scope/esm-only/sub/extra:app')), 'esmOnlySub');
  });

  it('fails with AppImportError when the module does not exist', async () => {
    await rejectsWith('nosuch.cjs', AppImportError, /^Failed to find module "nosuch\.cjs" \(looked in .+\)$/);
    await rejectsWith('./nosuch', AppImportError, /^Failed to find module "\.\/nosuch"/);
    await rejectsWith('no-such-package:app', AppImportError, /^Failed to find module "no-such-package"/);
  });

  it('fails with AppImportError, first line only, when the module throws while loading', async () => {
    await assert.rejects(load('throws.cjs'), (err: unknown) => {
      assert.ok(err instanceof AppImportError);
      assert.equal(err.message, 'Failed to load module "throws.cjs": boom while loading');
      assert.ok(err.cause instanceof Error);
      return true;
    });
  });

  it('loads TypeScript only where Node strips types', async () => {
    if ((process.features as { typescript?: unknown }).typescript) {
      assert.equal(typeof (await load('typed.ts')), 'function');
    } else {
      await rejectsWith('typed.ts', AppImportError, /^Cannot load TypeScript module "typed\.ts": .*22\.18\+.*compile it to \.js/);
    }
  });
});

describe('loadAppValue: attributes', () => {
  it('takes a named export', async () => {
    assert.equal(nameOf(await load('named.mjs:app')), 'app');
  });

  it('walks a dotted attribute path', async () => {
    assert.equal(nameOf(await load('named.mjs:api.v1.handler')), 'handler');
  });

  it('reads attributes of a CommonJS module', async () => {
    assert.equal(await load('cjs-fn.cjs:tag'), 'cjs');
  });

  it('falls back to module.exports for CommonJS exports Node could not detect', async () => {
    assert.equal(nameOf(await load('hidden.cjs:app')), 'hiddenApp');
  });

  it('unwraps the default export of TypeScript compiled to CommonJS', async () => {
    assert.equal(nameOf(await load('compiled.cjs')), 'compiledApp');
  });

  it('fails with AppLoadError when the attribute is missing', async () => {
    await rejectsWith('cjs-fn.cjs:nosuch', AppLoadError, /^Failed to find attribute "nosuch" in "cjs-fn\.cjs"\.$/);
    await rejectsWith('named.mjs:api.v2.handler', AppLoadError, /^Failed to find attribute "api\.v2" in "named\.mjs"\.$/);
  });

  it('fails with AppLoadError naming the exports when there is no default export', async () => {
    await rejectsWith('no-default.mjs', AppLoadError, /no default export.*alpha, beta/);
  });
});

describe('loadAppValue: factories', () => {
  it('calls the factory with the literal arguments', async () => {
    const made = await load(`factory.mjs:make('x', 2, {debug: true}, [null])`);
    assert.deepEqual(made, { args: ['x', 2, { debug: true }, [null]] });
  });

  it('awaits an async factory', async () => {
    assert.equal(await load('factory.mjs:makeLater(21)'), 42);
  });

  it('calls a factory method on its object', async () => {
    assert.equal(await load(`factory.mjs:api.create('v1')`), 'api:v1');
  });

  it('fails with AppImportError when the factory throws', async () => {
    await rejectsWith('factory.mjs:broken()', AppImportError, /^Factory "broken" in "factory\.mjs" failed: TypeError: cannot connect$/);
  });

  it('fails with AppLoadError when the attribute is not a function', async () => {
    await rejectsWith('factory.mjs:notAFunction()', AppLoadError, /"notAFunction".*a number, not a function/);
  });
});
