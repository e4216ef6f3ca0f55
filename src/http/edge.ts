/**
 * What happens to an accepted connection before node:http parses it, and the per-request scheme
 * decision; HttpServing calls in here. In order:
 *
 * 1. PROXY protocol (`--proxy-protocol`): the header is read from the first bytes; the bytes
 *    after it are put back (socket.unshift) for TLS or HTTP. A header from a peer outside
 *    `--proxy-allow-from` gets 403, a malformed one 400 (Gunicorn's answers), and the connection
 *    closes. The PROXY client's address then replaces `remoteAddress`, `remotePort` and
 *    `remoteFamily` of the socket the app sees (the access log's %(h)s, Express's req.ip, ...).
 * 2. TLS (`--certfile`): the connection is wrapped in a server-side tls.TLSSocket.
 * 3. node:http takes the connection (and from then on its headersTimeout bounds the headers).
 *
 * Steps 1 and 2 must finish within `--header-timeout` too, else the connection is closed: a
 * client that never sends its PROXY header or never finishes its handshake is a slowloris as
 * well. With neither PROXY protocol nor TLS the connection goes to node:http at once, untouched.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { ProxyProtocolMode } from '../config/net-validators.js';
import type { Logger } from '../log/logger.js';
import { AllowList } from './addresses.js';
import { errorPage } from './errors.js';
import { parseProxyHeader, type ProxyInfo } from './proxy-protocol.js';
import { ForwardedScheme, PEER_ADDRESS, type ForwardedSettings } from './proxy.js';
import { createTlsServer, tlsEnabled, wrapTls, type TlsServer, type TlsSettings } from './tls.js';

export interface EdgeSettings extends ForwardedSettings, TlsSettings {
  proxy_protocol: ProxyProtocolMode;
  proxy_allow_ips: readonly string[];
  header_timeout: number;
}

/** node:http options for the header timeout (see the header_timeout setting). */
export function serverTimeouts(s: Pick<EdgeSettings, 'header_timeout'>): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  const ms = Math.round(s.header_timeout * 1000);
  return {
    headersTimeout: ms,
    // Gunicorn bounds no request body in time (a slow upload is not an attack on the headers);
    // node's 300 s default would cut long uploads.
    requestTimeout: 0,
    // node checks its timeouts every 30 s by default: too coarse to close within the timeout.
    connectionsCheckingInterval: ms > 0 ? Math.min(1000, Math.max(100, Math.floor(ms / 4))) : 30_000,
  };
}

let preparedTls: TlsServer | null = null;

/** In a worker, before its class creates servers: builds the TLS context (runs ssl_context). */
export async function prepareEdge(s: EdgeSettings): Promise<void> {
  preparedTls = tlsEnabled(s) ? await createTlsServer(s) : null;
}

type Deliver = (socket: net.Socket) => void;

function rawAnswer(socket: net.Socket, status: number, reason: string, message: string): void {
  const body = errorPage(status, message);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroySoon());
}

export class Edge {
  /** Anything to do before node:http (PROXY protocol or TLS)? */
  readonly active: boolean;
  private readonly proxyMode: ProxyProtocolMode;
  private readonly proxyAllow: AllowList;
  private readonly timeoutMs: number;
  private readonly tls: TlsServer | null;
  private readonly forwarded: ForwardedScheme | null;

  constructor(
    s: EdgeSettings,
    private readonly log: Logger,
  ) {
    this.proxyMode = s.proxy_protocol ?? 'off';
    this.proxyAllow = new AllowList(s.proxy_allow_ips ?? []);
    this.timeoutMs = Math.round((s.header_timeout ?? 0) * 1000);
    this.tls = tlsEnabled(s) ? preparedTls : null;
    if (tlsEnabled(s) && !this.tls) throw new Error('TLS is configured but prepareEdge() was not called in this worker');
    this.active = this.proxyMode !== 'off' || this.tls !== null;
    const headers = s.secure_scheme_headers ?? {};
    this.forwarded = Object.keys(headers).length > 0 ? new ForwardedScheme({ forwarded_allow_ips: s.forwarded_allow_ips ?? [], secure_scheme_headers: headers }) : null;
  }

  /** Per request: false when trusted scheme headers contradict each other (answer 400). */
  schemeOk(req: import('node:http').IncomingMessage): boolean {
    return this.forwarded === null || this.forwarded.apply(req);
  }

  /** Takes an accepted connection and hands it to `deliver` (node:http) when it is ready for HTTP. */
  accept(socket: net.Socket, deliver: Deliver): void {
    if (!this.active) return deliver(socket);
    let timer: NodeJS.Timeout | null = null;
    if (this.timeoutMs > 0) {
      const t = (timer = setTimeout(() => socket.destroy(), this.timeoutMs));
      t.unref();
      socket.once('close', () => clearTimeout(t));
    }
    const ready = (s: net.Socket) => {
      if (timer) clearTimeout(timer);
      deliver(s);
    };
    const afterProxy = this.tls ? (s: net.Socket) => this.handshake(s, ready) : ready;
    if (this.proxyMode !== 'off') this.readProxyHeader(socket, afterProxy);
    else afterProxy(socket);
  }

  private readProxyHeader(socket: net.Socket, next: Deliver): void {
    let buf: Buffer = Buffer.alloc(0);
    const onError = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf, this.proxyMode);
      if (r.state === 'more') return;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.pause();
      if (r.state === 'invalid') return this.refuse(socket, 400, 'Bad Request', r.message, `'${r.message}'`);
      if (r.state === 'found') {
        if (!this.proxyAllow.allows(socket.remoteAddress)) {
          return this.refuse(socket, 403, 'Forbidden', `Proxy request from ${socket.remoteAddress ?? ''} not allowed`, 'Request forbidden');
        }
        buf = buf.subarray(r.length);
        overrideAddress(socket, r.info);
      }
      if (buf.length > 0) socket.unshift(buf);
      next(socket);
      // node:http reads from here on, the bytes put back first. (A TLS socket reads them itself.)
      if (!this.tls) socket.resume();
    };
    // The client closed in the middle of a PROXY header.
    const onEnd = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      if (buf.length === 0) return void socket.destroySoon();
      this.refuse(socket, 400, 'Bad Request', 'Invalid PROXY line: incomplete', "'Invalid PROXY line: incomplete'");
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('end', onEnd);
  }

  private refuse(socket: net.Socket, status: number, reason: string, logMessage: string, body: string): void {
    this.log.warning(`Invalid request from ip=${socket.remoteAddress ?? ''}: ${logMessage}`);
    socket.on('error', () => socket.destroy());
    rawAnswer(socket, status, reason, body);
  }

  private handshake(raw: net.Socket, next: Deliver): void {
    const s: tls.TLSSocket = wrapTls(raw, this.tls!);
    copyAddress(raw, s);
    const fail = (err?: Error) => {
      if (err) this.log.debug(`TLS handshake with ${raw.remoteAddress ?? 'unix socket'} failed: ${err.message}`);
      s.destroy();
      raw.destroy();
    };
    // The client went away during the handshake (the sockets are half-open capable: close them).
    const ended = () => fail();
    s.on('error', fail);
    s.once('end', ended);
    // The TLS socket owns the connection now; its end is the raw socket's end.
    s.once('close', () => raw.destroy());
    s.once('secure', () => {
      s.off('error', fail);
      s.off('end', ended);
      const ssl = (s as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
      if (s.listenerCount('error') === 0) s.on('error', () => s.destroy());
      const opts = this.tls!.socketOptions;
      if (opts.requestCert) {
        // What tls.Server does for its sockets: a client certificate that does not verify is
        // refused when it is required, and reported (socket.authorizationError) when optional.
        const verifyError = ssl?.verifyError?.() ?? null;
        const t = s as unknown as { authorized: boolean; authorizationError?: string };
        if (verifyError) {
          t.authorizationError = (verifyError as Error & { code?: string }).code ?? verifyError.message;
          if (opts.rejectUnauthorized !== false && opts.rejectUnauthorized !== undefined) return fail(verifyError);
        } else t.authorized = true;
      }
      next(s);
    });
  }
}

function define(socket: net.Socket, name: string, value: unknown): void {
  Object.defineProperty(socket, name, { value, configurable: true, writable: true });
}

/** The PROXY client becomes the socket's remote end; the peer's own address stays known. */
function overrideAddress(socket: net.Socket, info: ProxyInfo): void {
  if (info.clientAddress === undefined) return;
  (socket as net.Socket & { [PEER_ADDRESS]?: string | null })[PEER_ADDRESS] = socket.remoteAddress ?? null;
  define(socket, 'remoteAddress', info.clientAddress);
  define(socket, 'remotePort', info.clientPort);
  define(socket, 'remoteFamily', info.protocol === 'TCP6' ? 'IPv6' : 'IPv4');
  define(socket, 'proxyProtocol', info);
}

/** A TLS socket reports the raw socket's addresses (including a PROXY override). */
function copyAddress(raw: net.Socket, s: net.Socket): void {
  const r = raw as net.Socket & { [PEER_ADDRESS]?: string | null };
  if (r[PEER_ADDRESS] === undefined) return;
  (s as net.Socket & { [PEER_ADDRESS]?: string | null })[PEER_ADDRESS] = r[PEER_ADDRESS];
  define(s, 'remoteAddress', raw.remoteAddress);
  define(s, 'remotePort', raw.remotePort);
  define(s, 'remoteFamily', raw.remoteFamily);
  define(s, 'proxyProtocol', (raw as unknown as { proxyProtocol: unknown }).proxyProtocol);
}
