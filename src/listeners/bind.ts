import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** One `--bind` value, parsed the way Gunicorn's util.parse_address reads it. */
export type BindSpec =
  | { kind: 'tcp'; raw: string; host: string; port: number }
  | { kind: 'unix'; raw: string; path: string }
  | { kind: 'fd'; raw: string; fd: number };

const DEFAULT_PORT = 8000;
// RFC 1123 host names; Gunicorn would only fail later, at bind time, with a resolver error.
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

export function parseBind(raw: string): BindSpec {
  const bad = (why: string) => new ConfigError('bind', raw, why);
  if (typeof raw !== 'string' || raw.trim() === '') throw bad('empty address');
  const value = raw.trim();

  const unix = /^unix:(\/\/)?(.*)$/.exec(value);
  if (unix) {
    const path = unix[2]!;
    if (path === '') throw bad('unix socket path is empty');
    return { kind: 'unix', raw, path };
  }
  if (value.startsWith('fd://')) {
    const text = value.slice(5);
    if (!/^\d+$/.test(text)) throw bad('not a valid file descriptor');
    return { kind: 'fd', raw, fd: Number(text) };
  }

  const netloc = value.startsWith('tcp://') ? value.slice(6) : value;
  let host: string;
  let portText: string | undefined;
  if (netloc.startsWith('[')) {
    const close = netloc.indexOf(']');
    if (close < 0) throw bad('unclosed [ in IPv6 address');
    host = netloc.slice(1, close);
    const rest = netloc.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw bad('expected :PORT after ]');
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) throw bad('not an IPv6 address');
  } else {
    const parts = netloc.split(':');
    if (parts.length > 2) throw bad('IPv6 addresses must be written in brackets, e.g. [::1]:8000');
    host = parts[0]!;
    portText = parts[1];
    // ":8000" binds every IPv4 interface, as Python's socket does for an empty host.
    if (host === '') host = '0.0.0.0';
    if (!isIP(host) && !HOSTNAME.test(host)) throw bad('not a host name or IP address');
  }

  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad('not a valid port number');
    port = Number(portText);
  }
  return { kind: 'tcp', raw, host: host.toLowerCase(), port };
}

/** How Gunicorn names a bound address in "Listening at: ..." */
export function bindUrl(spec: BindSpec, actualPort?: number, scheme: 'http' | 'https' = 'http'): string {
  switch (spec.kind) {
    case 'unix':
      return `unix:${spec.path}`;
    case 'fd':
      return `fd://${spec.fd}`;
    case 'tcp': {
      const host = isIP(spec.host) === 6 ? `[${spec.host}]` : spec.host;
      return `${scheme}://${host}:${actualPort ?? spec.port}`;
    }
  }
}
