import { cosmiconfig, type Loader } from 'cosmiconfig';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, TsgunicornError, oneLine } from '../errors.js';

/** Where the config file is looked for in the working directory, first match wins. */
export const CONFIG_SEARCH_PLACES = [
  'package.json',
  '.tsgunicornrc',
  '.tsgunicornrc.json',
  '.tsgunicornrc.js',
  '.tsgunicornrc.cjs',
  '.tsgunicornrc.mjs',
  '.tsgunicornrc.ts',
  'tsgunicorn.config.js',
  'tsgunicorn.config.cjs',
  'tsgunicorn.config.mjs',
  'tsgunicorn.config.ts',
  'tsgunicorn.config.json',
];

export interface LoadedConfigFile {
  path: string;
  /** Keys as written in the file; the resolver maps and validates them. */
  values: Record<string, unknown>;
}

/**
 * JS and TS config files are loaded with Node's own import(), so ESM, CommonJS and (on Node
 * versions that strip types) TypeScript all work without a bundler. The module's default export
 * (or module.exports) is the settings object; a function is called and may be async.
 */
const importLoader: Loader = async (filepath) => {
  if (/\.(c|m)?ts$/.test(filepath) && !(process.features as { typescript?: unknown }).typescript) {
    throw new ConfigError(
      'config',
      filepath,
      `Node ${process.versions.node} cannot load TypeScript files; use Node 22.18 or later, or a .js/.json config file`,
      'E_CONFIG_FILE',
    );
  }
  // A query string defeats the ESM cache, so a reload (HUP) sees an edited file.
  const url = `${pathToFileURL(filepath).href}?mtime=${Date.now()}`;
  const mod = (await import(url)) as { default?: unknown };
  let value: unknown = mod.default !== undefined ? mod.default : mod;
  if (typeof value === 'function') value = await (value as () => unknown)();
  return value;
};

const explorer = cosmiconfig('tsgunicorn', {
  searchPlaces: CONFIG_SEARCH_PLACES,
  searchStrategy: 'none',
  cache: false,
  loaders: {
    '.js': importLoader,
    '.cjs': importLoader,
    '.mjs': importLoader,
    '.ts': importLoader,
    '.cts': importLoader,
    '.mts': importLoader,
  },
});

/** Loads the named file, or searches the directory when no file is named. Null when none found. */
export async function loadConfigFile(named: string | null, cwd: string): Promise<LoadedConfigFile | null> {
  let result;
  try {
    if (named) {
      const file = path.resolve(cwd, named);
      if (!existsSync(file)) throw new ConfigError('config', named, 'no such file', 'E_CONFIG_FILE');
      result = await explorer.load(file);
    } else {
      result = await explorer.search(cwd);
    }
  } catch (err) {
    if (err instanceof TsgunicornError) throw err;
    throw new ConfigError('config', named ?? cwd, `cannot load config file: ${oneLine(err)}`, 'E_CONFIG_FILE');
  }
  if (!result || result.isEmpty) return result ? { path: result.filepath, values: {} } : null;
  const values = result.config as unknown;
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError('config', result.filepath, 'the config file must export an object of settings', 'E_CONFIG_FILE');
  }
  // Modules loaded through import() are namespace objects; copy to a plain object.
  return { path: result.filepath, values: { ...(values as Record<string, unknown>) } };
}
