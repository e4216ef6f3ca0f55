/** Runs wrk against a loopback URL and reads its counters (bounded in time by -d). */
import { spawn } from 'node:child_process';

export interface WrkResult {
  requests: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  non2xx: number;
  output: string;
}

export function wrk(url: string, opts: { connections?: number; seconds?: number; close?: boolean }): Promise<WrkResult> {
  const args = ['-t', '2', '-c', String(opts.connections ?? 20), '-d', `${opts.seconds ?? 4}s`, '--timeout', '5s'];
  if (opts.close) args.push('-H', 'Connection: close');
  args.push(url);
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (out += b));
    p.on('error', reject);
    p.on('exit', () => {
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const requests = /(\d+) requests in/.exec(out);
      if (!requests) return reject(new Error(`wrk output not understood:\n${out}`));
      resolve({
        requests: Number(requests[1]),
        connect: Number(errors?.[1] ?? 0),
        read: Number(errors?.[2] ?? 0),
        write: Number(errors?.[3] ?? 0),
        timeout: Number(errors?.[4] ?? 0),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
        output: out,
      });
    });
  });
}
