import { ConfigError } from '../errors.js';
import { parseBind } from '../listeners/bind.js';

/**
 * Validators turn a raw value into a setting's typed value or throw a ConfigError naming the
 * setting and the value. Raw values come as strings from the command line and the environment,
 * and as JS values from a config file, so every validator accepts both.
 */
export type Validator<T> = (value: unknown, setting: string) => T;

export const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Validator<number> =>
  (value, setting) => {
    const n = typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new ConfigError(setting, value, 'not an integer');
    if (n < min) throw new ConfigError(setting, value, `must be at least ${min}`);
    if (n > max) throw new ConfigError(setting, value, `must be at most ${max}`);
    return n;
  };

/** Seconds, as Gunicorn takes them: integers or decimals. */
export const seconds: Validator<number> = (value, setting) => {
  const n = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ConfigError(setting, value, 'must be a number of seconds, 0 or more');
  }
  return n;
};

const TRUE = new Set(['true', '1', 'yes', 'y', 'on']);
const FALSE = new Set(['false', '0', 'no', 'n', 'off']);

export const bool: Validator<boolean> = (value, setting) => {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
  }
  throw new ConfigError(setting, value, 'must be true or false');
};

export const string: Validator<string> = (value, setting) => {
  if (typeof value !== 'string') throw new ConfigError(setting, value, 'must be a string');
  return value;
};

export const optionalString: Validator<string | null> = (value, setting) =>
  value === null || value === undefined ? null : string(value, setting);

export const nonEmptyString: Validator<string> = (value, setting) => {
  const s = string(value, setting);
  if (s.trim() === '') throw new ConfigError(setting, value, 'must not be empty');
  return s;
};

export const choice =
  <T extends string>(choices: readonly T[]): Validator<T> =>
  (value, setting) => {
    const s = typeof value === 'string' ? value.trim().toLowerCase() : value;
    if (typeof s !== 'string' || !(choices as readonly string[]).includes(s)) {
      throw new ConfigError(setting, value, `must be one of ${choices.join(', ')}`);
    }
    return s as T;
  };

/** A list setting: a config file may give one value or an array; the CLI repeats the flag. */
export const list =
  <T>(item: Validator<T>): Validator<T[]> =>
  (value, setting) => {
    const items = Array.isArray(value) ? value : [value];
    return items.map((v) => item(v, setting));
  };

export const bindAddress: Validator<string> = (value, setting) => {
  const s = nonEmptyString(value, setting);
  parseBind(s);
  return s;
};

export const keyValue: Validator<string> = (value, setting) => {
  const s = string(value, setting);
  const eq = s.indexOf('=');
  if (eq <= 0) throw new ConfigError(setting, value, 'must be KEY=VALUE');
  return s;
};

/** Config files may give environment variables as an object ({ KEY: 'value' }). */
export const envList: Validator<string[]> = (value, setting) => {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([k, v]) => keyValue(`${k}=${v}`, setting));
  }
  return list(keyValue)(value, setting);
};

/** Server hooks are functions, so only a config file can set them. */
export const hookFunction: Validator<((...args: unknown[]) => unknown) | null> = (value, setting) => {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'function') throw new ConfigError(setting, value, 'must be a function (set it in the config file)');
  return value as (...args: unknown[]) => unknown;
};
