/**
 * Finds and imports the module an app spec names and picks the app out of it, the way Gunicorn's
 * `import_app` does: the module is looked up from --chdir, ATTR is a property path, and a call
 * form (`create_app()`) runs the factory with its literal arguments.
 *
 * Everything is loaded with import() so CommonJS and ESM apps both work; import() of a CommonJS
 * file gives a namespace whose `default` is module.exports.
 */
import { createRequire } from 'node:module';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import type { AppSpec } from './spec.js';
import { AppImportError, AppLoadError, oneLine } from '../errors.js';

const EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];
const TS_FILE = /\.[cm]?ts$/;
// The conditions import() matches; the package's own key order decides between them.
const CONDITIONS = new Set(['node', 'import', 'default']);

type Namespace = Record<string, unknown>;

/** Imports the module named by the spec (relative to chdir) and returns the value the spec names (after calling the factory, awaited, if the spec is a call). */
export async function loadAppValue(spec: AppSpec, chdir: string): Promise<unknown> {
  const dir = path.resolve(chdir);
  const file = resolveModule(spec.module, dir);
  if (file === null) {
    throw new AppImportError(`Failed to find module ${JSON.stringify(spec.module)} (looked in ${dir})`);
  }
  const ns = await importModule(file, spec.module);
  const where = JSON.stringify(spec.module);

  let parent: unknown;
  let value: unknown;
  if (spec.attr === null) {
    if (!('default' in ns)) {
      const names = Object.keys(ns);
      throw new AppLoadError(
        `Module ${where} has no default export; name the app as "${spec.module}:<name>" ` +
          `(named exports: ${names.length ? names.join(', ') : 'none'}).`,
      );
    }
    value = unwrapEsModule(ns.default);
  } else {
    ({ parent, value } = walk(ns, spec.attr, where));
  }
  if (spec.call === null) return value;

  const name = spec.attr?.join('.') ?? 'default';
  if (typeof value !== 'function') {
    throw new AppLoadError(`Failed to call "${name}" in ${where}: it is ${describeValue(value)}, not a function.`);
  }
  try {
    // Called on its parent object so a factory written as a method (`mod:api.create()`) keeps `this`.
    return await Reflect.apply(value, parent, spec.call);
  } catch (err) {
    throw new AppImportError(`Factory "${name}" in ${where} failed: ${firstLine(err)}`, { cause: err });
  }
}

/** "a string", "an array", "an instance of Foo": for error messages about the wrong kind of value. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor;
    const name = typeof ctor?.name === 'string' ? ctor.name : '';
    return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
  }
  return `a ${typeof value}`;
}

function walk(ns: Namespace, attr: string[], where: string): { parent: unknown; value: unknown } {
  let parent: unknown;
  let value: unknown = ns;
  for (let i = 0; i < attr.length; i++) {
    let next = property(value, attr[i]!);
    if (next === undefined && i === 0) {
      // CommonJS exports that Node's static analysis missed (set in a loop, Object.assign) exist
      // only on module.exports, which is `default`.
      value = unwrapEsModule(ns.default);
      next = property(value, attr[0]!);
    }
    if (next === undefined) {
      throw new AppLoadError(`Failed to find attribute ${JSON.stringify(attr.slice(0, i + 1).join('.'))} in ${where}.`);
    }
    parent = value;
    value = next;
  }
  return { parent, value };
}

function property(obj: unknown, name: string): unknown {
  if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) return undefined;
  return (obj as Namespace)[name];
}

/** TypeScript compiled to CommonJS puts `export default` on module.exports.default. */
function unwrapEsModule(exports: unknown): unknown {
  if (exports !== null && typeof exports === 'object' && (exports as Namespace).__esModule === true && 'default' in exports) {
    return (exports as Namespace).default;
  }
  return exports;
}

async function importModule(file: string, name: string): Promise<Namespace> {
  try {
    // A built-in ("node:http") resolves to its own name, not a path.
    return (await import(path.isAbsolute(file) ? pathToFileURL(file).href : file)) as Namespace;
  } catch (err) {
    if (TS_FILE.test(file) && !nodeStripsTypes() && isUnloadableTs(err)) {
      throw new AppImportError(
        `Cannot load TypeScript module ${JSON.stringify(name)}: Node ${process.version} does not strip types ` +
          '(Node 22.18+ and 23.6+ do by default); compile it to .js or run a newer Node.',
        { cause: err },
      );
    }
    throw new AppImportError(`Failed to load module ${JSON.stringify(name)}: ${firstLine(err)}`, { cause: err });
  }
}

function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: unknown }).typescript);
}

// Only these mean "Node cannot read .ts"; anything else came from the app (or a loader such as tsx did load it).
function isUnloadableTs(err: unknown): boolean {
  return err instanceof SyntaxError || (err as { code?: unknown } | null)?.code === 'ERR_UNKNOWN_FILE_EXTENSION';
}

function firstLine(err: unknown): string {
  // "TypeError: x is not a function" says more than the message alone; a plain Error adds nothing.
  return err instanceof Error && err.name !== 'Error' ? `${err.name}: ${oneLine(err)}` : oneLine(err);
}

// ---- resolution ----------------------------------------------------------------------------------

/** An absolute file path, a built-in's name, or null when nothing matches. */
function resolveModule(name: string, dir: string): string | null {
  const file = findFile(path.resolve(dir, name));
  if (file !== null) return file;
  // "./x" and "/x" are paths only; anything else may also be a package, as on Python's sys.path.
  if (name.startsWith('.') || path.isAbsolute(name)) return null;
  return resolvePackage(name, dir);
}

/** `base` as given, with each extension, or a directory's index file. */
function findFile(base: string): string | null {
  const stat = statSync(base, { throwIfNoEntry: false });
  if (stat?.isFile()) return base;
  for (const ext of EXTENSIONS) {
    if (isFile(base + ext)) return base + ext;
  }
  if (stat?.isDirectory()) {
    for (const ext of EXTENSIONS) {
      const index = path.join(base, 'index' + ext);
      if (isFile(index)) return index;
    }
  }
  return null;
}

function isFile(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

function resolvePackage(name: string, dir: string): string | null {
  const require = createRequire(path.join(dir, 'noop.js'));
  try {
    return require.resolve(name);
  } catch {
    // ESM-only packages ("exports" without a "require" condition) fail here; read their manifest.
  }
  const parts = name.split('/');
  const pkg = parts.slice(0, name.startsWith('@') ? 2 : 1).join('/');
  const sub = ['.', ...parts.slice(pkg.split('/').length)].join('/');
  for (const nodeModules of require.resolve.paths(pkg) ?? []) {
    const root = path.join(nodeModules, pkg);
    if (isFile(path.join(root, 'package.json'))) return resolveFromManifest(root, sub);
  }
  return null;
}

function resolveFromManifest(root: string, sub: string): string | null {
  let manifest: { exports?: unknown; module?: unknown; main?: unknown };
  try {
    manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as typeof manifest;
  } catch {
    return null;
  }
  if (manifest.exports !== undefined && manifest.exports !== null) {
    const target = exportTarget(manifest.exports, sub);
    return target !== null && isFile(path.join(root, target)) ? path.join(root, target) : null;
  }
  if (sub !== '.') return findFile(path.join(root, sub));
  const main = typeof manifest.module === 'string' ? manifest.module : typeof manifest.main === 'string' ? manifest.main : 'index';
  return findFile(path.join(root, main));
}

/** The file "exports" maps `sub` ("." or "./x") to: exact subpaths, one-star patterns, conditions. */
function exportTarget(exports: unknown, sub: string): string | null {
  const isSubpathMap =
    typeof exports === 'object' && !Array.isArray(exports) && Object.keys(exports as object).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return sub === '.' ? pickCondition(exports) : null;
  const map = exports as Record<string, unknown>;
  if (Object.hasOwn(map, sub)) return pickCondition(map[sub]);
  for (const [key, target] of Object.entries(map)) {
    const star = key.indexOf('*');
    if (star === -1) continue;
    const prefix = key.slice(0, star);
    const suffix = key.slice(star + 1);
    if (sub.length >= key.length - 1 && sub.startsWith(prefix) && sub.endsWith(suffix)) {
      const file = pickCondition(target);
      return file && file.replaceAll('*', sub.slice(prefix.length, sub.length - suffix.length));
    }
  }
  return null;
}

function pickCondition(target: unknown): string | null {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const item of target) {
      const file = pickCondition(item);
      if (file !== null) return file;
    }
    return null;
  }
  if (target !== null && typeof target === 'object') {
    for (const [condition, value] of Object.entries(target)) {
      if (!CONDITIONS.has(condition)) continue;
      const file = pickCondition(value);
      if (file !== null) return file;
    }
  }
  return null;
}
