/**
 * Access-log line formatting, matching Gunicorn's `access_log_format` (glogging.py `Logger.atoms`
 * rendered through `SafeAtoms` with Python's `%` operator), so existing log parsers keep working.
 */
import { ConfigError } from '../errors.js';

export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

export interface AccessRecord {
  remoteAddress: string | undefined;
  method: string;
  /** Raw request target as received, e.g. "/a%20b?x=1". */
  target: string;
  /** "1.1" */
  httpVersion: string;
  status: number;
  /** Body bytes sent; null when unknown. */
  bytesSent: number | null;
  /** Lower-case names, as IncomingMessage.headers. */
  requestHeaders: Record<string, string | string[] | undefined>;
  /** Lower-case names, as res.getHeaders(). */
  responseHeaders: Record<string, string | string[] | number | undefined>;
  startTime: Date;
  durationNs: bigint;
  pid: number;
  /** Looked up by `%({var}e)s`. */
  env: Record<string, string | undefined>;
}

/** What an atom yields before formatting: Python str, int, or None. */
type Value = string | number | null;
type Atom = (rec: AccessRecord) => Value;
type Piece = string | ((rec: AccessRecord) => string);

interface Spec {
  flags: string;
  width: number;
  precision: number | undefined;
  conv: 's' | 'd' | 'i';
}

/** Atoms that are Python ints in Gunicorn; every other atom is a str and `%d` on it always raises. */
const NUMERIC_ATOMS = new Set(['s', 'B', 'T', 'D', 'M']);

/** Compile once per format (it runs per request, so do the parsing up front). */
export function compileAccessFormat(format: string): (rec: AccessRecord) => string {
  const pieces = parseFormat(format);
  return (rec) => {
    let line = '';
    for (const piece of pieces) line += typeof piece === 'string' ? piece : piece(rec);
    return line;
  };
}

function parseFormat(format: string): Piece[] {
  const fail = (reason: string): never => {
    throw new ConfigError('access_log_format', format, reason);
  };
  const pieces: Piece[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      literal += format.slice(i);
      break;
    }
    literal += format.slice(i, pct);
    if (format[pct + 1] === '%') {
      literal += '%';
      i = pct + 2;
      continue;
    }
    // Gunicorn formats with a mapping, so an unnamed `%s` can never render a line.
    if (format[pct + 1] !== '(') fail(`"%" at offset ${pct} must be "%%" or start "%(name)"`);

    // Python balances nested parentheses inside the key.
    let depth = 1;
    let close = pct + 2;
    for (; close < format.length; close++) {
      if (format[close] === '(') depth++;
      else if (format[close] === ')' && --depth === 0) break;
    }
    if (depth !== 0) fail(`unclosed "%(" at offset ${pct}`);
    const name = format.slice(pct + 2, close);

    const specRe = /([-+ #0]*)(\d*)(?:\.(\d*))?[hlL]?(.?)/y;
    specRe.lastIndex = close + 1;
    const m = specRe.exec(format)!;
    const conv = m[4];
    if (conv === '') fail(`"%(${name})" at offset ${pct} has no conversion character`);
    if (conv !== 's' && conv !== 'd' && conv !== 'i') {
      fail(`"%(${name})${m[0]}": only the s, d and i conversions are supported`);
    }
    if (conv !== 's' && !NUMERIC_ATOMS.has(name)) {
      fail(`"%(${name})${m[0]}": atom "${name}" is not a number`);
    }
    const spec: Spec = {
      flags: m[1],
      width: m[2] ? Number(m[2]) : 0,
      precision: m[3] === undefined ? undefined : Number(m[3] || '0'),
      conv: conv as Spec['conv'],
    };

    if (literal) pieces.push(literal);
    literal = '';
    const atom = atomFor(name);
    pieces.push((rec) => render(atom(rec), spec));
    i = specRe.lastIndex;
  }
  if (literal) pieces.push(literal);
  return pieces;
}

function atomFor(name: string): Atom {
  if (name.startsWith('{')) {
    // SafeAtoms lower-cases the whole key, so both the name and the i/o/e suffix are case-insensitive.
    const m = /^\{(.*)\}([ioe])$/s.exec(name.toLowerCase());
    if (!m) return () => '-';
    const key = m[1];
    if (m[2] === 'i') return (rec) => lastValue(rec.requestHeaders[key]);
    if (m[2] === 'o') return (rec) => lastValue(rec.responseHeaders[key]);
    return (rec) => envValue(rec.env, key);
  }
  switch (name) {
    case 'h': return (rec) => rec.remoteAddress ?? '-';
    case 'l': return () => '-';
    case 'u': return (rec) => basicAuthUser(environHeader(rec.requestHeaders.authorization)) || '-';
    case 't': return (rec) => apacheTime(endTime(rec));
    case 'r': return (rec) => `${rec.method} ${rec.target} HTTP/${rec.httpVersion}`;
    case 'm': return (rec) => rec.method;
    case 'U': return (rec) => pathInfo(rec);
    case 'q': return (rec) => splitTarget(rec.target).query;
    case 'H': return (rec) => `HTTP/${rec.httpVersion}`;
    case 's': return (rec) => rec.status;
    // b is '-' only for None: a sent count of 0 prints "0".
    case 'b': return (rec) => (rec.bytesSent === null ? '-' : String(rec.bytesSent));
    case 'B': return (rec) => rec.bytesSent;
    case 'f': return (rec) => environHeader(rec.requestHeaders.referer) ?? '-';
    case 'a': return (rec) => environHeader(rec.requestHeaders['user-agent']) ?? '-';
    case 'T': return (rec) => elapsed(rec).seconds;
    case 'D': return (rec) => { const e = elapsed(rec); return e.seconds * 1_000_000 + e.micros; };
    case 'M': return (rec) => { const e = elapsed(rec); return e.seconds * 1000 + Math.trunc(e.micros / 1000); };
    case 'L': return (rec) => { const e = elapsed(rec); return `${e.seconds}.${String(e.micros).padStart(6, '0')}`; };
    case 'p': return (rec) => `<${rec.pid}>`;
    default: return () => '-';
  }
}

function render(value: Value, spec: Spec): string {
  let text: string;
  if (spec.conv === 's') {
    // SafeAtoms escapes quotes in str values only; None prints as Python's str(None).
    text = typeof value === 'string' ? value.replaceAll('"', '\\"') : value === null ? 'None' : String(value);
    if (spec.precision !== undefined) text = Array.from(text).slice(0, spec.precision).join('');
  } else {
    // Python raises here (Gunicorn then logs no line); only B can be None, and Gunicorn never has it None.
    if (typeof value !== 'number') return '-';
    const n = Math.trunc(value);
    const sign = n < 0 ? '-' : spec.flags.includes('+') ? '+' : spec.flags.includes(' ') ? ' ' : '';
    let digits = String(Math.abs(n));
    if (spec.precision !== undefined) digits = digits.padStart(spec.precision, '0');
    if (spec.flags.includes('0') && !spec.flags.includes('-')) {
      digits = digits.padStart(spec.width - sign.length, '0');
    }
    text = sign + digits;
  }
  const len = Array.from(text).length;
  if (len >= spec.width) return text;
  const pad = ' '.repeat(spec.width - len);
  return spec.flags.includes('-') ? text + pad : pad + text;
}

/** `{name}i`/`{name}o` come from header lists turned into a dict, so the last of repeated headers wins. */
function lastValue(value: string | string[] | number | undefined): string {
  if (Array.isArray(value)) return value.length ? value[value.length - 1] : '-';
  return value === undefined ? '-' : String(value);
}

/** f, a and u read the WSGI environ, where repeated headers are joined with ",". */
function environHeader(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) return value.length ? value.join(',') : undefined;
  return value;
}

function envValue(env: Record<string, string | undefined>, key: string): string {
  let found: string | undefined;
  for (const name of Object.keys(env)) if (name.toLowerCase() === key) found = env[name] ?? found;
  return found ?? '-';
}

/** Gunicorn's `_get_user`: any header starting "basic" (any case), Python's lenient base64, strict UTF-8. */
function basicAuthUser(header: string | undefined): string | undefined {
  if (!header || !header.toLowerCase().startsWith('basic')) return undefined;
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const decoded = pythonB64decode(header.slice(space + 1).trim());
  if (!decoded) return undefined;
  const colon = decoded.indexOf(0x3a);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(colon < 0 ? decoded : decoded.subarray(0, colon));
  } catch {
    return undefined;
  }
}

const B64 = /[A-Za-z0-9+/]/;

/**
 * binascii.a2b_base64 in its default mode: skips foreign characters, stops at a completing "=" run,
 * and rejects input whose data characters do not fill whole quads ("Incorrect padding").
 * Node's decoder accepts unpadded input, so it would find users Gunicorn does not.
 */
function pythonB64decode(text: string): Buffer | undefined {
  let data = '';
  let quad = 0;
  let pads = 0;
  let complete = false;
  for (const ch of text) {
    if (ch === '=') {
      if (quad >= 2 && quad + ++pads >= 4) {
        complete = true;
        break;
      }
    } else if (B64.test(ch)) {
      data += ch;
      quad = (quad + 1) % 4;
      pads = 0;
    }
  }
  if (!complete && quad !== 0) return undefined;
  return Buffer.from(data, 'base64');
}

/** Gunicorn's t is taken when the line is logged, i.e. after the response, not when the request began. */
function endTime(rec: AccessRecord): Date {
  return new Date(rec.startTime.getTime() + Number(rec.durationNs / 1_000_000n));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** strftime('[%d/%b/%Y:%H:%M:%S %z]') in local time, C locale. */
function apacheTime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  const zone = `${offset < 0 ? '-' : '+'}${two(Math.trunc(abs / 60))}${two(abs % 60)}`;
  return (
    `[${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${zone}]`
  );
}

/** Request time as Gunicorn holds it: whole seconds plus microseconds (sub-microsecond dropped). */
function elapsed(rec: AccessRecord): { seconds: number; micros: number } {
  const micros = rec.durationNs / 1000n;
  return { seconds: Number(micros / 1_000_000n), micros: Number(micros % 1_000_000n) };
}

/** urllib.parse.urlsplit as Gunicorn applies it to the request target (path and query only). */
function splitTarget(target: string): { path: string; query: string } {
  let rest = target;
  // "//x" is an origin-form path to Gunicorn, not a network location.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest);
  if (scheme) {
    rest = rest.slice(scheme[0].length);
    if (rest.startsWith('//')) rest = rest.slice(2).replace(/^[^/?#]*/, '');
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  return q < 0 ? { path: rest, query: '' } : { path: rest.slice(0, q), query: rest.slice(q + 1) };
}

/** PATH_INFO: SCRIPT_NAME removed, then percent-decoded to bytes and read as latin-1, per WSGI. */
function pathInfo(rec: AccessRecord): string {
  let path = splitTarget(rec.target).path;
  const scriptName = rec.env.SCRIPT_NAME;
  if (scriptName && path.startsWith(scriptName)) path = path.slice(scriptName.length);
  if (!/[%\u0080-\uffff]/.test(path)) return path;
  // unquote_to_bytes encodes the str as UTF-8 first, so UTF-8 escapes show as latin-1 mojibake.
  const input = Buffer.from(path, 'utf8');
  const out: number[] = [];
  const hex = (b: number | undefined) => b !== undefined && /[0-9A-Fa-f]/.test(String.fromCharCode(b));
  for (let i = 0; i < input.length; i++) {
    if (input[i] === 0x25 && hex(input[i + 1]) && hex(input[i + 2])) {
      out.push(parseInt(String.fromCharCode(input[i + 1], input[i + 2]), 16));
      i += 2;
    } else {
      out.push(input[i]);
    }
  }
  return Buffer.from(out).toString('latin1');
}

/**
 * `--access-log-json`: the same fields as the atoms, named for people who ship logs
 * (h → remote_addr, r → request, s → status, …), numbers as numbers, absent values as null.
 */
const JSON_FIELDS: [string, string][] = [
  ['remote_addr', 'h'],
  ['user', 'u'],
  ['request', 'r'],
  ['method', 'm'],
  ['path', 'U'],
  ['query', 'q'],
  ['protocol', 'H'],
  ['status', 's'],
  ['bytes', 'B'],
  ['referer', 'f'],
  ['user_agent', 'a'],
  ['request_time_us', 'D'],
];
const JSON_ATOMS = JSON_FIELDS.map(([key, atom]) => [key, atomFor(atom)] as const);

export function accessJson(rec: AccessRecord): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const [key, atom] of JSON_ATOMS) {
    const v = atom(rec);
    out[key] = v === '-' && key !== 'method' && key !== 'path' ? null : v;
  }
  out.request_time = Number(rec.durationNs) / 1e9;
  out.time = endTime(rec).toISOString();
  return out;
}
