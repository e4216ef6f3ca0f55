/**
 * IP addresses and networks for the allow lists (forwarded_allow_ips, proxy_allow_ips), matched
 * as Gunicorn matches them: single addresses and CIDR networks (strict: no host bits set, as
 * Python's ip_network), '*' for everyone, and peers without an IP address (unix sockets) always
 * allowed. IPv4-mapped IPv6 peers (::ffff:127.0.0.1, what a dual-stack socket reports) match
 * their IPv4 form.
 */
import { isIP } from 'node:net';

/** The 4 or 16 bytes of an address, or null. */
export function addressBytes(text: string): Uint8Array | null {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family !== 6) return null;
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // Embedded IPv4 (::ffff:1.2.3.4): two groups' worth of bytes.
    tail = s
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const groups = (p: string) => (p === '' ? [] : p.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** ::ffff:a.b.c.d as its IPv4 bytes; other addresses unchanged. */
function unmapped(b: Uint8Array): Uint8Array {
  if (b.length !== 16) return b;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return b;
  if (b[10] !== 0xff || b[11] !== 0xff) return b;
  return b.subarray(12);
}

interface Network {
  bytes: Uint8Array;
  prefix: number;
}

/** Parses "ADDR" or "ADDR/PREFIX"; `error` says what is wrong. */
export function parseNetwork(text: string): { net?: Network; error?: string } {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = addressBytes(addr);
  if (!bytes) return { error: 'not an IP address or network' };
  const bits = bytes.length * 8;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return { error: `prefix length must be 0 to ${bits}` };
    prefix = Number(p);
  }
  for (let bit = prefix; bit < bits; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return { error: 'has host bits set' };
  }
  return { net: bytes.length === 16 && prefix >= 96 ? unmappedNet(bytes, prefix) : { bytes, prefix } };
}

function unmappedNet(bytes: Uint8Array, prefix: number): Network {
  const u = unmapped(bytes);
  return u.length === 4 ? { bytes: u, prefix: prefix - 96 } : { bytes, prefix };
}

function contains(n: Network, b: Uint8Array): boolean {
  if (n.bytes.length !== b.length) return false;
  const full = n.prefix >> 3;
  for (let i = 0; i < full; i++) if (n.bytes[i] !== b[i]) return false;
  const rem = n.prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (n.bytes[full]! & mask) === (b[full]! & mask);
}

/** A validated allow list (from addressList); `allows(peer)` is what the edge asks. */
export class AllowList {
  readonly everyone: boolean;
  private readonly nets: Network[];
  private readonly cache = new Map<string, boolean>();

  constructor(entries: readonly string[]) {
    this.everyone = entries.includes('*');
    this.nets = entries.flatMap((e) => (e === '*' ? [] : (parseNetwork(e).net ?? [])));
  }

  /** A peer without an IP address (unix socket) is always allowed, as in Gunicorn. */
  allows(address: string | undefined): boolean {
    if (this.everyone || !address) return true;
    let hit = this.cache.get(address);
    if (hit === undefined) {
      const b = addressBytes(address);
      hit = b !== null && this.nets.some((n) => contains(n, unmapped(b)));
      if (this.cache.size > 1024) this.cache.clear();
      this.cache.set(address, hit);
    }
    return hit;
  }
}
