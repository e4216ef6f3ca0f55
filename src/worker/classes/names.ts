/**
 * Worker class names the settings table accepts. Kept apart from the classes themselves so the
 * CLI can validate `-k` without loading any worker code.
 */
import { ConfigError } from '../../errors.js';

export const BUILTIN_CLASSES = ['sync', 'gthread', 'async'] as const;
export type BuiltinClass = (typeof BUILTIN_CLASSES)[number];

/**
 * Gunicorn's names for its event-loop workers all mean the async class here, so a Gunicorn
 * command line works unchanged (the arbiter prints a one-line notice); `threads` is gthread.
 */
export const CLASS_ALIASES: Readonly<Record<string, BuiltinClass>> = {
  gevent: 'async',
  eventlet: 'async',
  tornado: 'async',
  threads: 'gthread',
};

export const WORKER_CLASS_CHOICES = [...BUILTIN_CLASSES, ...Object.keys(CLASS_ALIASES)].join(', ');

/** A custom worker class is named by a module path (./x.js, /abs/x.mjs, x.ts). */
export function isClassModulePath(value: string): boolean {
  return /^(\.{1,2}\/|\/)/.test(value) || /\.(c|m)?(j|t)s$/.test(value);
}

export function validateWorkerClass(value: unknown, setting: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(setting, value, `must be one of ${WORKER_CLASS_CHOICES}, or a module path`);
  }
  const name = value.trim();
  const lower = name.toLowerCase();
  if ((BUILTIN_CLASSES as readonly string[]).includes(lower) || lower in CLASS_ALIASES) return lower;
  if (isClassModulePath(name)) return name;
  throw new ConfigError(setting, value, `unknown worker class; use one of ${WORKER_CLASS_CHOICES}, or a module path`);
}

export interface ResolvedClass {
  /** A builtin class name, or the module path of a custom class. */
  name: string;
  /** One line for the log when the requested name was mapped onto another class. */
  notice?: string;
}

/** Applies Gunicorn's aliases and its rule that --threads > 1 turns the sync class into gthread. */
export function resolveWorkerClass(requested: string, threads: number): ResolvedClass {
  const alias = CLASS_ALIASES[requested];
  if (alias === 'async') {
    return { name: alias, notice: `Worker class ${requested} runs as async: the Node event loop serves many connections per worker.` };
  }
  if (alias) return { name: alias };
  // As in Gunicorn, asking for several threads with the default class means gthread.
  if (requested === 'sync' && threads > 1) return { name: 'gthread' };
  return { name: requested };
}
