/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt), v1 (text) and v2 (binary), read the way
 * Gunicorn 24+ reads it (gunicorn/http/message.py): at the start of a connection, before HTTP.
 *
 * - mode `auto` detects either version; `v1` / `v2` accept only that one. A connection that does
 *   not start with a PROXY header is plain HTTP, as in Gunicorn (so one listener serves both).
 * - v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", six fields, addresses of the named family,
 *   ports 0-65535, at most 107 bytes. "PROXY UNKNOWN ...\r\n" is accepted and the connection's own
 *   addresses are kept, as the specification requires (Gunicorn refuses it).
 * - v2: the 12-byte signature, version 2, command LOCAL (addresses of the connection kept) or
 *   PROXY with TCP over IPv4 or IPv6 (UNSPEC: kept); other families and UDP are refused.
 *
 * The parser is incremental: it is given everything received so far and says whether it needs
 * more, found no header, found one (and how many bytes it took), or found a bad one.
 */
import { isIP } from 'node:net';
import type { ProxyProtocolMode } from '../config/net-validators.js';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** The longest v1 line, CRLF included (the specification's bound). */
export const V1_MAX = 107;

export interface ProxyInfo {
  /** TCP4, TCP6, UNKNOWN (v1), LOCAL or UNSPEC (v2). */
  protocol: string;
  clientAddress?: string;
  clientPort?: number;
  proxyAddress?: string;
  proxyPort?: number;
}

export type ProxyParse =
  | { state: 'more' }
  | { state: 'none' }
  | { state: 'found'; info: ProxyInfo; length: number }
  | { state: 'invalid'; message: string };

/** Whether `buf` is a prefix of `sig` or starts with it. */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.compare(sig, 0, n, 0, n) === 0;
}

export function parseProxyHeader(buf: Buffer, mode: ProxyProtocolMode): ProxyParse {
  const v2 = (mode === 'v2' || mode === 'auto') && startsLike(buf, V2_SIGNATURE);
  const v1 = (mode === 'v1' || mode === 'auto') && startsLike(buf, V1_PREFIX);
  if (!v1 && !v2) return { state: 'none' };
  if (v2) return buf.length < V2_SIGNATURE.length ? { state: 'more' } : parseV2(buf);
  if (buf.length < V1_PREFIX.length) return { state: 'more' };
  return parseV1(buf);
}

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    return buf.length >= V1_MAX ? { state: 'invalid', message: `Invalid PROXY line: no CRLF within ${V1_MAX} bytes` } : { state: 'more' };
  }
  if (end + 2 > V1_MAX) return { state: 'invalid', message: `Invalid PROXY line: longer than ${V1_MAX} bytes` };
  const line = buf.toString('latin1', 0, end);
  const bad = () => ({ state: 'invalid' as const, message: `Invalid PROXY line: '${line}'` });
  const bits = line.split(' ');
  if (bits[1] === 'UNKNOWN') return { state: 'found', info: { protocol: 'UNKNOWN' }, length: end + 2 };
  if (bits.length !== 6) return bad();
  const [, proto, src, dst, sport, dport] = bits as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (!family) return { state: 'invalid', message: `Invalid PROXY line: protocol '${proto}' not supported` };
  if (isIP(src) !== family || isIP(dst) !== family) return bad();
  const port = (s: string) => (/^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : -1);
  const sp = port(sport);
  const dp = port(dport);
  if (sp < 0 || dp < 0) return { state: 'invalid', message: `Invalid PROXY line: invalid port '${line}'` };
  return { state: 'found', info: { protocol: proto, clientAddress: src, clientPort: sp, proxyAddress: dst, proxyPort: dp }, length: end + 2 };
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The canonical text form (RFC 5952): the longest run of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < 16) return { state: 'more' };
  const verCmd = buf[12]!;
  const famProto = buf[13]!;
  const length = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return { state: 'invalid', message: `Invalid PROXY header: unsupported version ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  if (command > 1) return { state: 'invalid', message: `Invalid PROXY header: unsupported command ${command}` };
  const total = 16 + length;
  if (buf.length < total) return { state: 'more' };
  if (command === 0) return { state: 'found', info: { protocol: 'LOCAL' }, length: total };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (transport !== 1) return { state: 'invalid', message: 'Invalid PROXY header: only TCP protocol is supported' };
  const a = buf.subarray(16, total);
  if (family === 1) {
    if (length < 12) return { state: 'invalid', message: 'Invalid PROXY header: insufficient address data for IPv4' };
    return {
      state: 'found',
      info: { protocol: 'TCP4', clientAddress: [...a.subarray(0, 4)].join('.'), proxyAddress: [...a.subarray(4, 8)].join('.'), clientPort: a.readUInt16BE(8), proxyPort: a.readUInt16BE(10) },
      length: total,
    };
  }
  if (family === 2) {
    if (length < 36) return { state: 'invalid', message: 'Invalid PROXY header: insufficient address data for IPv6' };
    return {
      state: 'found',
      info: { protocol: 'TCP6', clientAddress: ipv6(a.subarray(0, 16)), proxyAddress: ipv6(a.subarray(16, 32)), clientPort: a.readUInt16BE(32), proxyPort: a.readUInt16BE(34) },
      length: total,
    };
  }
  if (family === 0) return { state: 'found', info: { protocol: 'UNSPEC' }, length: total };
  return { state: 'invalid', message: `Invalid PROXY header: unsupported address family ${family}` };
}
