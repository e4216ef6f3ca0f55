/**
 * The addresses the observability settings take: where StatsD lives (`--statsd-host`, as Gunicorn
 * reads it: HOST:PORT, HOST alone for port 8125, or unix:PATH) and where the master serves
 * Prometheus metrics and health probes (`--metrics-bind`: HOST:PORT or unix:PATH).
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { parseBind } from '../listeners/bind.js';

export type StatsdAddress = { kind: 'udp'; host: string; port: number } | { kind: 'unix'; path: string };
export type MetricsAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** StatsD's usual port, which Gunicorn assumes when none is given. */
export const STATSD_DEFAULT_PORT = 8125;

function hasPort(netloc: string): boolean {
  return netloc.startsWith('[') ? /\]:\d*$/.test(netloc) : netloc.includes(':');
}

/** Reuses the bind parser (one grammar for addresses) and names our setting in its errors. */
function parseAs(setting: string, raw: string) {
  try {
    return parseBind(raw);
  } catch (err) {
    const why = err instanceof ConfigError ? err.message.replace(/^Invalid value for bind: .*?: /, '') : String(err);
    throw new ConfigError(setting, raw, why);
  }
}

export function parseStatsdAddress(raw: string, setting = 'statsd_host'): StatsdAddress {
  const spec = parseAs(setting, raw);
  if (spec.kind === 'fd') throw new ConfigError(setting, raw, 'must be HOST:PORT or unix:PATH');
  if (spec.kind === 'unix') return { kind: 'unix', path: spec.path };
  const netloc = raw.trim().replace(/^tcp:\/\//, '');
  return { kind: 'udp', host: spec.host, port: hasPort(netloc) ? spec.port : STATSD_DEFAULT_PORT };
}

export function parseMetricsAddress(raw: string, setting = 'metrics_bind'): MetricsAddress {
  const spec = parseAs(setting, raw);
  if (spec.kind === 'fd') throw new ConfigError(setting, raw, 'must be HOST:PORT or unix:PATH');
  if (spec.kind === 'unix') return { kind: 'unix', path: spec.path };
  if (!hasPort(raw.trim().replace(/^tcp:\/\//, ''))) throw new ConfigError(setting, raw, 'a port is required, e.g. 127.0.0.1:9100');
  return { kind: 'tcp', host: spec.host, port: spec.port };
}

/** How the metrics address is shown in the log: a URL for TCP, unix:PATH otherwise. */
export function metricsUrl(addr: MetricsAddress, port?: number): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  const host = isIP(addr.host) === 6 ? `[${addr.host}]` : addr.host;
  return `http://${host}:${port ?? addr.port}`;
}

// ---- validators for the settings table ---------------------------------------------------------

const optional =
  (parse: (raw: string, setting: string) => unknown) =>
  (value: unknown, setting: string): string | null => {
    if (value === null || value === undefined || value === '') return null;
    if (typeof value !== 'string') throw new ConfigError(setting, value, 'must be a string');
    parse(value, setting);
    return value.trim();
  };

export const statsdHostSetting = optional(parseStatsdAddress);
export const metricsBindSetting = optional(parseMetricsAddress);

/** DogStatsD tags: comma-separated `name` or `name:value`, no `|` or `#` or spaces (they would break the datagram). */
export function dogstatsdTagsSetting(value: unknown, setting: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') throw new ConfigError(setting, value, 'must be a string');
  const s = value.trim();
  if (/[|#\s\n]/.test(s)) throw new ConfigError(setting, value, 'tags are comma-separated name:value pairs without "|", "#" or spaces');
  return s;
}
