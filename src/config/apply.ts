import path from 'node:path';
import { ConfigError, oneLine } from '../errors.js';
import type { Settings } from './settings.js';

/**
 * Applies the settings that change the master process itself, at start and on every reload, so
 * that workers inherit them: the working directory (made absolute, so nothing resolves a
 * relative --chdir twice) and -e variables (Gunicorn sets them in the master too).
 */
export function applyProcessSettings(s: Settings, startCwd: string): void {
  const dir = path.resolve(startCwd, s.chdir);
  try {
    process.chdir(dir);
  } catch (err) {
    throw new ConfigError('chdir', s.chdir, oneLine(err));
  }
  s.chdir = dir;
  for (const kv of s.raw_env) {
    const eq = kv.indexOf('=');
    process.env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
}
