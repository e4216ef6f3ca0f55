/**
 * Trusted front ends: which scheme (http or https) a request came in with.
 *
 * As in Gunicorn, the scheme is https on a TLS connection and http otherwise, unless the peer is
 * trusted (its address is in `forwarded_allow_ips`, `*` trusts everyone, and a unix-socket peer
 * is always trusted) and the request carries one of `secure_scheme_headers`: then a header whose
 * value is exactly the configured one means https, any other value http, and two of them that
 * disagree make the request a 400 ("Contradictory scheme headers"). From an untrusted peer those
 * headers change nothing (they still reach the app as ordinary headers).
 *
 * What the app sees:
 * - fetch handlers: the scheme of `request.url` (https://host/path).
 * - Node handlers (req, res): `req.scheme`, 'http' or 'https', on every request (Gunicorn's
 *   wsgi.url_scheme). It is a property tsgunicorn adds to http.IncomingMessage.prototype;
 *   `req.socket.encrypted` still tells only whether this hop is TLS, and frameworks' own
 *   `req.protocol` keep following their own trust-proxy settings.
 *
 * Cost per request: one property read per configured header (three by default) on req.headers,
 * which node:http has already built; the rest only runs when one of them is present.
 */
import { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { AllowList } from './addresses.js';

export type Scheme = 'http' | 'https';

const SCHEME = Symbol('tsgunicorn.scheme');
type WithScheme = IncomingMessage & { [SCHEME]?: Scheme; scheme: Scheme };

/** Installs `req.scheme` (idempotent; also run in gthread's app threads). */
export function installSchemeProperty(): void {
  if (Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'scheme')) return;
  Object.defineProperty(IncomingMessage.prototype, 'scheme', {
    configurable: true,
    enumerable: false,
    get(this: WithScheme): Scheme {
      return this[SCHEME] ?? ((this.socket as net.Socket & { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http');
    },
    set(this: WithScheme, v: Scheme) {
      this[SCHEME] = v;
    },
  });
}
installSchemeProperty();

/** The scheme a request came in with (see the top of this file). */
export function schemeOf(req: IncomingMessage): Scheme {
  return (req as WithScheme).scheme;
}

/** Set on a connection whose remoteAddress a PROXY header replaced: the peer's own address. */
export const PEER_ADDRESS = Symbol('tsgunicorn.peerAddress');

/** The address of the machine at the other end of the connection (not the PROXY header's client). */
export function peerAddress(socket: net.Socket): string | undefined {
  const s = socket as net.Socket & { [PEER_ADDRESS]?: string | null };
  return s[PEER_ADDRESS] !== undefined ? (s[PEER_ADDRESS] ?? undefined) : socket.remoteAddress;
}

export interface ForwardedSettings {
  forwarded_allow_ips: readonly string[];
  secure_scheme_headers: Readonly<Record<string, string>>;
}

export class ForwardedScheme {
  private readonly allow: AllowList;
  /** [lower-case name, value meaning https] */
  private readonly headers: [string, string][];

  constructor(s: ForwardedSettings) {
    this.allow = new AllowList(s.forwarded_allow_ips);
    this.headers = Object.entries(s.secure_scheme_headers).map(([n, v]) => [n.toLowerCase(), v]);
  }

  /**
   * Sets req.scheme from trusted headers. False when they contradict each other (the request is
   * then refused with 400, as Gunicorn's InvalidSchemeHeaders).
   */
  apply(req: IncomingMessage): boolean {
    const h = this.headers;
    const headers = req.headers;
    let any = false;
    for (let i = 0; i < h.length; i++) if (headers[h[i]![0]] !== undefined) any = true;
    if (!any || !this.allow.allows(peerAddress(req.socket))) return true;
    // Field by field, as Gunicorn reads them: a repeated header counts each time.
    let scheme: Scheme | null = null;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      for (const [n, v] of h) {
        if (n !== name) continue;
        const s: Scheme = raw[i + 1] === v ? 'https' : 'http';
        if (scheme !== null && s !== scheme) return false;
        scheme = s;
      }
    }
    if (scheme !== null) (req as WithScheme).scheme = scheme;
    return true;
  }
}
