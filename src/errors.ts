/**
 * Typed errors. Every error a user can cause carries a code and a one-line message that names
 * the setting (or the app) and the offending value; the CLI prints that line, never a stack.
 */

/** Exit statuses, as Gunicorn's arbiter uses them. */
export const ExitStatus = {
  OK: 0,
  /** Bad configuration (Gunicorn exits 1 from --check-config; argparse usage errors exit 2). */
  CONFIG: 1,
  USAGE: 2,
  /** A worker failed to boot (Gunicorn's WORKER_BOOT_ERROR). */
  WORKER_BOOT: 3,
  /** The app failed to load: missing attribute, not callable (Gunicorn's APP_LOAD_ERROR). */
  APP_LOAD: 4,
} as const;

export type ErrorCode =
  | 'E_CONFIG_VALUE' // a setting got a value it cannot take
  | 'E_CONFIG_UNKNOWN' // a config file names a setting that does not exist
  | 'E_CONFIG_FILE' // the config file cannot be read or evaluated
  | 'E_USAGE' // command-line syntax (unknown flag, missing argument)
  | 'E_BIND' // a bind spec cannot be parsed or bound
  | 'E_APP_SPEC' // MODULE:ATTR cannot be parsed
  | 'E_APP_IMPORT' // the module cannot be found or throws while loading (boot error, 3)
  | 'E_APP_LOAD' // the module loads but the attribute is missing or unusable (app error, 4)
  | 'E_PIDFILE'
  | 'E_WORKER_CLASS'
  | 'E_BAD_REQUEST'; // a client's request refused after the app got it (its body stream fails with it)

export class TsgunicornError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A setting got a value it cannot take. The message reads `Invalid value for <name>: <value>: <why>`. */
export class ConfigError extends TsgunicornError {
  readonly setting: string;
  readonly value: unknown;
  constructor(setting: string, value: unknown, reason: string, code: ErrorCode = 'E_CONFIG_VALUE') {
    super(code, `Invalid value for ${setting}: ${show(value)}: ${reason}`);
    this.setting = setting;
    this.value = value;
  }
}

export class UsageError extends TsgunicornError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** The app module could not be imported: Gunicorn treats this as a worker boot failure (exit 3). */
export class AppImportError extends TsgunicornError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_APP_IMPORT', message, options);
  }
}

/** The app module loaded but did not yield a usable app (Gunicorn's AppImportError, exit 4). */
export class AppLoadError extends TsgunicornError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_APP_LOAD', message, options);
  }
}

/**
 * A request found bad only once its body had been read (fields forbidden in trailers): the app's
 * request stream is destroyed with it, as Gunicorn's body read raises.
 */
export class BadRequestError extends TsgunicornError {
  readonly status = 400;
  constructor(message: string) {
    super('E_BAD_REQUEST', message);
  }
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The one line a user sees for an error: the message, with the first line of its cause. */
export function oneLine(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
