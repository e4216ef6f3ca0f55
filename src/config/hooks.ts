/**
 * Server hooks: functions from the config file, named and ordered as Gunicorn's. A hook that
 * throws (or rejects) is logged and never takes the master or a worker down.
 *
 * Functions cannot cross from the master to a worker, so a worker that needs worker-side hooks
 * loads the config file again for them.
 */
import { oneLine } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { loadConfigFile } from './file.js';
import { fromConfigObject } from './resolve.js';
import { SETTING_NAMES, settingDef, type HookFn, type SettingName, type Settings } from './settings.js';

export const HOOK_NAMES = SETTING_NAMES.filter((n) => settingDef(n).section === 'Server Hooks');
export type HookName = (typeof HOOK_NAMES)[number];
export type Hooks = Partial<Record<HookName, HookFn>>;

/** Hooks that run in worker processes. */
const WORKER_HOOKS = new Set<string>(['post_fork', 'post_worker_init', 'worker_int', 'worker_abort', 'pre_request', 'post_request', 'worker_exit']);

export function hooksOf(settings: Settings): Hooks {
  const out: Hooks = {};
  for (const name of HOOK_NAMES) {
    const fn = (settings as Record<string, unknown>)[name];
    if (typeof fn === 'function') out[name] = fn as HookFn;
  }
  return out;
}

/** Whether a worker has any hook to load. */
export function hasWorkerHooks(settings: Settings): boolean {
  return Object.keys(hooksOf(settings)).some((n) => WORKER_HOOKS.has(n));
}

/** Runs a hook and waits for it if it returns a promise. */
export async function runHook(hooks: Hooks, name: HookName, log: Logger, ...args: unknown[]): Promise<void> {
  const fn = hooks[name];
  if (!fn) return;
  try {
    await fn(...args);
  } catch (err) {
    log.exception(`Exception in ${name} hook: ${oneLine(err)}`, err);
  }
}

/** Runs a hook without waiting (per-request hooks): errors and rejections are logged. */
export function fireHook(fn: HookFn, name: HookName, log: Logger, ...args: unknown[]): void {
  try {
    const r = fn(...args) as Promise<unknown> | undefined;
    if (r && typeof r.then === 'function') r.then(undefined, (err: unknown) => log.exception(`Exception in ${name} hook`, err));
  } catch (err) {
    log.exception(`Exception in ${name} hook`, err);
  }
}

/** In a worker: the hook functions, from the config file the master loaded. */
export async function loadWorkerHooks(configFile: string | null, cwd: string): Promise<Hooks> {
  if (!configFile) return {};
  const file = await loadConfigFile(configFile, cwd);
  if (!file) return {};
  const layer = fromConfigObject(file.values, file.path);
  const out: Hooks = {};
  for (const name of HOOK_NAMES) {
    if (!WORKER_HOOKS.has(name)) continue;
    const fn = settingDef(name as SettingName).validate(layer[name], name);
    if (typeof fn === 'function') out[name] = fn as HookFn;
  }
  return out;
}
