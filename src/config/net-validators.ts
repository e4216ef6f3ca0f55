/**
 * Validators for the settings of the HTTP edge: address lists, PROXY protocol mode, scheme
 * headers, certificate requirements. Like every validator they take strings (command line,
 * environment) and JS values (config file) and throw a ConfigError naming the setting.
 */
import { ConfigError } from '../errors.js';
import { parseNetwork } from '../http/addresses.js';
import type { Validator } from './validators.js';

/**
 * A comma-separated list of IP addresses and CIDR networks, or '*' (Gunicorn's
 * validate_string_to_addr_list): '10.0.0.0/8, ::1'. A config file may give an array.
 */
export const addressList: Validator<string[]> = (value, setting) => {
  let items: unknown[];
  if (Array.isArray(value)) items = value;
  else if (typeof value === 'string') items = value.split(',');
  else throw new ConfigError(setting, value, 'must be a comma-separated list of IP addresses or networks, or *');
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') throw new ConfigError(setting, value, 'must be a list of strings');
    const s = item.trim();
    if (s === '') continue;
    if (s !== '*') {
      const why = parseNetwork(s).error;
      if (why) throw new ConfigError(setting, value, `${JSON.stringify(s)}: ${why}`);
    }
    out.push(s);
  }
  return out;
};

export type ProxyProtocolMode = 'off' | 'v1' | 'v2' | 'auto';

const PROXY_MODES: Record<string, ProxyProtocolMode> = {
  false: 'off',
  off: 'off',
  '0': 'off',
  none: 'off',
  true: 'auto',
  auto: 'auto',
  '1': 'auto',
  v1: 'v1',
  v2: 'v2',
};

/** Gunicorn's validate_proxy_protocol: off, v1, v2 or auto (true/false and 1/0 accepted). */
export const proxyProtocol: Validator<ProxyProtocolMode> = (value, setting) => {
  if (value === null || value === undefined) return 'off';
  if (typeof value === 'boolean') return value ? 'auto' : 'off';
  const mode = typeof value === 'string' ? PROXY_MODES[value.trim().toLowerCase()] : undefined;
  if (!mode) throw new ConfigError(setting, value, 'must be off, v1, v2 or auto');
  return mode;
};

/** Header names (any case) mapped to the exact value that means https. */
export const schemeHeaders: Validator<Record<string, string>> = (value, setting) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(setting, value, 'must be an object mapping header names to values, e.g. { "X-FORWARDED-PROTO": "https" }');
  }
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[!#$%&'*+\-.^`|~0-9A-Za-z_]+$/.test(name)) throw new ConfigError(setting, value, `${JSON.stringify(name)} is not a header name`);
    if (typeof v !== 'string') throw new ConfigError(setting, value, `the value for ${name} must be a string`);
    out[name.toUpperCase()] = v;
  }
  return out;
};

/** Gunicorn's cert_reqs: 0 (no client certificate), 1 (optional), 2 (required). */
export const certReqs: Validator<number> = (value, setting) => {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (n !== 0 && n !== 1 && n !== 2) throw new ConfigError(setting, value, 'must be 0 (none), 1 (optional) or 2 (required)');
  return n;
};
