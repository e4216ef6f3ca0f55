/**
 * TLS, with Gunicorn's settings: `certfile`, `keyfile`, `ca_certs`, `cert_reqs` (0 none,
 * 1 optional, 2 required client certificate), `ciphers` (an OpenSSL cipher list), and the
 * `ssl_context(config, default_ssl_context_factory)` hook of the config file for anything else.
 * TLS is on when certfile or keyfile is set (Gunicorn's is_ssl).
 *
 * The hook gets the resolved settings and a factory returning the default options (a fresh
 * `tls.SecureContextOptions & tls.TlsOptions` object built from the settings above: cert, key,
 * ca, ciphers, requestCert, rejectUnauthorized). It returns such an options object (changed or
 * new: minVersion, SNICallback, ALPNProtocols, ...) or a `tls.SecureContext` from
 * `tls.createSecureContext()`; it may be async.
 *
 * The master builds the default context once at start so that a missing or bad file is one
 * line naming the setting, before any worker starts. Each worker builds its own context (the
 * hook runs there; functions cannot cross processes, so the worker loads the config file again)
 * and wraps every accepted connection in a server-side tls.TLSSocket before node:http sees it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { loadConfigFile } from '../config/file.js';
import { ConfigError, oneLine } from '../errors.js';

export interface TlsSettings {
  certfile: string | null;
  keyfile: string | null;
  ca_certs: string | null;
  cert_reqs: number;
  ciphers: string | null;
  chdir: string;
  config?: string | null;
  ssl_context?: unknown;
}

export type TlsOptions = tls.SecureContextOptions & tls.TlsOptions;

export interface TlsServer {
  secureContext: tls.SecureContext;
  /** Per-connection options for tls.TLSSocket (besides isServer and secureContext). */
  socketOptions: tls.TLSSocketOptions;
}

export function tlsEnabled(s: Pick<TlsSettings, 'certfile' | 'keyfile'>): boolean {
  return Boolean(s.certfile || s.keyfile);
}

function readSetting(s: TlsSettings, name: 'certfile' | 'keyfile' | 'ca_certs'): Buffer | undefined {
  const file = s[name];
  if (!file) return undefined;
  try {
    return readFileSync(path.resolve(s.chdir, file));
  } catch (err) {
    throw new ConfigError(name, file, oneLine(err).replace(/^[A-Z]+: /, ''));
  }
}

/** The default options, from the settings (Gunicorn's default_ssl_context_factory). */
export function defaultTlsOptions(s: TlsSettings): TlsOptions {
  const cert = readSetting(s, 'certfile');
  // As Python's load_cert_chain: without a keyfile, the key is in the certificate file.
  const key = readSetting(s, 'keyfile') ?? cert;
  const ca = readSetting(s, 'ca_certs');
  const opts: TlsOptions = { cert, key, requestCert: s.cert_reqs > 0, rejectUnauthorized: s.cert_reqs === 2 };
  if (ca) opts.ca = ca;
  if (s.ciphers) opts.ciphers = s.ciphers;
  return opts;
}

/** The default context, checked in the master: bad files or ciphers are the settings' fault. */
export function checkTls(s: TlsSettings): void {
  const opts = defaultTlsOptions(s);
  try {
    tls.createSecureContext(opts);
  } catch (err) {
    const setting = /cipher/i.test(oneLine(err)) ? 'ciphers' : s.keyfile ? 'keyfile' : 'certfile';
    throw new ConfigError(setting, (s as unknown as Record<string, unknown>)[setting], oneLine(err));
  }
}

type SslContextHook = (config: unknown, factory: () => TlsOptions) => unknown;

async function sslContextHook(s: TlsSettings): Promise<SslContextHook | null> {
  if (typeof s.ssl_context === 'function') return s.ssl_context as SslContextHook;
  if (!s.config) return null;
  const file = await loadConfigFile(s.config, s.chdir);
  const fn = file?.values.ssl_context ?? file?.values.sslContext;
  if (fn === undefined || fn === null) return null;
  if (typeof fn !== 'function') throw new ConfigError('ssl_context', fn, 'must be a function (set it in the config file)');
  return fn as SslContextHook;
}

function isSecureContext(x: unknown): x is tls.SecureContext {
  return typeof x === 'object' && x !== null && 'context' in x && (x as object).constructor?.name === 'SecureContext';
}

/** Builds the worker's TLS server configuration, running the ssl_context hook if there is one. */
export async function createTlsServer(s: TlsSettings): Promise<TlsServer> {
  const factory = () => defaultTlsOptions(s);
  const hook = await sslContextHook(s);
  let result: unknown = hook ? await hook(Object.freeze({ ...s }), factory) : factory();
  if (result === undefined || result === null) {
    throw new ConfigError('ssl_context', result, 'must return TLS options or a tls.SecureContext');
  }
  if (isSecureContext(result)) {
    return { secureContext: result, socketOptions: { requestCert: s.cert_reqs > 0, rejectUnauthorized: s.cert_reqs === 2 } };
  }
  if (typeof result !== 'object') throw new ConfigError('ssl_context', result, 'must return TLS options or a tls.SecureContext');
  const opts = result as TlsOptions;
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext(opts);
  } catch (err) {
    throw new ConfigError('ssl_context', '(returned options)', oneLine(err));
  }
  const { requestCert, rejectUnauthorized, SNICallback, ALPNProtocols, ALPNCallback, enableTrace, session, requestOCSP } = opts as TlsOptions &
    tls.TLSSocketOptions & { ALPNCallback?: unknown };
  const socketOptions: tls.TLSSocketOptions = { requestCert, rejectUnauthorized, SNICallback, ALPNProtocols, enableTrace, session, requestOCSP };
  if (ALPNCallback) (socketOptions as Record<string, unknown>).ALPNCallback = ALPNCallback;
  return { secureContext, socketOptions };
}

/** Wraps an accepted connection; `secure` runs once the handshake is done. */
export function wrapTls(raw: import('node:net').Socket, server: TlsServer): tls.TLSSocket {
  return new tls.TLSSocket(raw, { ...server.socketOptions, isServer: true, secureContext: server.secureContext });
}
