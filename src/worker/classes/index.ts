import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TsgunicornError, oneLine } from '../../errors.js';
import type { BuiltinClass } from './names.js';
import type { WorkerClassModule } from './types.js';

const BUILTIN: Record<BuiltinClass, () => Promise<WorkerClassModule>> = {
  sync: () => import('./sync.js'),
  async: () => import('./async.js'),
  gthread: () => import('./gthread.js'),
};

/** A builtin class by name, or a custom one from a module path (relative to chdir). */
export async function loadWorkerClass(name: string, chdir: string): Promise<WorkerClassModule> {
  const builtin = BUILTIN[name as BuiltinClass];
  if (builtin) return builtin();
  let mod: Partial<WorkerClassModule> & { default?: Partial<WorkerClassModule> };
  try {
    mod = await import(pathToFileURL(path.resolve(chdir, name)).href);
  } catch (err) {
    throw new TsgunicornError('E_WORKER_CLASS', `Cannot load worker class ${JSON.stringify(name)}: ${oneLine(err)}`, { cause: err });
  }
  const create = mod.create ?? mod.default?.create;
  if (typeof create !== 'function') {
    throw new TsgunicornError('E_WORKER_CLASS', `Worker class ${JSON.stringify(name)} does not export create(ctx)`);
  }
  return { create };
}
