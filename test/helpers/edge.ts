/**
 * Helpers for the tests of the HTTP edge: processes with extra descriptors or other programs in
 * front (systemd-socket-activate, nginx), plain HTTP(S) requests, free ports, external commands.
 */
import { execFile, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { BIN, ROOT, Server } from './server.js';

/** Whether a command is on PATH. */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The environment for a tsgunicorn under test, without the caller's settings. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['TSGUNICORN_CMD_ARGS', 'WEB_CONCURRENCY', 'PORT', 'NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'WATCHDOG_USEC', 'FORWARDED_ALLOW_IPS']) delete env[k];
  return { ...env, ...extra };
}

/** Starts any command as a tracked Server (killed with its children when the test file ends). */
export function spawnTracked(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; cwd?: string } = {}): Server {
  const proc = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? cleanEnv(), stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] });
  return new Server(proc);
}

/** bin/tsgunicorn with extra descriptors (fd 3, 4, ...) handed down. */
export function startWithFds(args: string[], fds: number[], env: NodeJS.ProcessEnv = cleanEnv()): Server {
  return spawnTracked(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', ...fds] });
}

/** A port that was free a moment ago. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request (no agent keep-alive), bounded in time. */
export function request(opts: http.RequestOptions & { https?: boolean; ca?: string | Buffer; body?: string; timeoutMs?: number }): Promise<Reply> {
  const mod = opts.https ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({ agent: false, ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Runs a command to completion (bounded), resolving with its output whatever the status. */
export function runCommand(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code: unknown = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Raw bytes out, everything until the server closes (or `ms`) back. */
export function rawExchange(target: net.NetConnectOpts, data: Buffer | string, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(target, () => sock.write(data));
    const done = () => {
      clearTimeout(t);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const t = setTimeout(done, ms);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', done);
    sock.on('error', done);
  });
}
