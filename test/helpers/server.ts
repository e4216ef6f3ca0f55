/**
 * Starts real `bin/tsgunicorn` processes for integration tests and guarantees they are gone
 * afterwards, even when a test fails: every process is registered and killed (with its workers)
 * when the test file ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = path.join(ROOT, 'bin', 'tsgunicorn');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

const running = new Set<ChildProcess>();
const tempDirs: string[] = [];

/** The direct children of a process (its workers), read from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return out.sort((a, b) => a - b);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killTree(proc: ChildProcess): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  for (const child of childrenOf(proc.pid)) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  proc.kill('SIGKILL');
}

after(() => {
  for (const p of running) killTree(p);
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
process.on('exit', () => {
  for (const p of running) killTree(p);
});
// A test file stopped from outside (the runner's timeout, ^C, CI's limit) runs no 'exit'
// handlers; its masters would live on, reparented to init, since a master outlives its parent.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const p of running) killTree(p);
    process.kill(process.pid, signal);
  });
}

export function tempDir(prefix = 'tsgunicorn-test-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Server {
  output = '';
  readonly exited: Promise<Exit>;
  private waiters: (() => void)[] = [];

  constructor(readonly proc: ChildProcess) {
    running.add(proc);
    const onData = (b: Buffer) => {
      this.output += b.toString();
      for (const w of this.waiters.splice(0)) w();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        running.delete(proc);
        for (const w of this.waiters.splice(0)) w();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get done(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  /** Waits until the output matches, or fails with the output so far. */
  async waitFor(re: RegExp, ms = 10_000, count = 1): Promise<RegExpMatchArray[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const matches = [...this.output.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))];
      if (matches.length >= count) return matches;
      const left = deadline - Date.now();
      if (left <= 0 || this.done) {
        throw new Error(`timed out waiting for ${re} x${count}; output so far:\n${this.output}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The port of the first "Listening at: http://host:PORT" line. */
  async port(): Promise<number> {
    const [m] = await this.waitFor(/Listening at: http:\/\/[^\s]+:(\d+) /);
    return Number(m![1]);
  }

  workers(): number[] {
    return childrenOf(this.pid);
  }

  /** Sends a signal and waits for the exit, killing everything if it takes longer than `ms`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<Exit> {
    if (!this.done) this.proc.kill(signal);
    const timer = setTimeout(() => killTree(this.proc), ms);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Cleanup for t.after: kill hard if still running. */
  kill(): void {
    killTree(this.proc);
  }
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function start(args: string[], opts: StartOptions = {}): Server {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // Tests are not affected by the caller's settings.
  if (!opts.env || !('TSGUNICORN_CMD_ARGS' in opts.env)) delete env.TSGUNICORN_CMD_ARGS;
  if (!opts.env || !('WEB_CONCURRENCY' in opts.env)) delete env.WEB_CONCURRENCY;
  if (!opts.env || !('PORT' in opts.env)) delete env.PORT;
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Server(proc);
}

/** Starts a server on a free loopback port and waits until `workers` workers have booted. */
export async function serve(args: string[], opts: StartOptions & { workers?: number } = {}): Promise<{ srv: Server; port: number; url: string }> {
  const srv = start(['-b', '127.0.0.1:0', '--log-level', 'debug', ...args], opts);
  const port = await srv.port();
  await srv.waitFor(/Worker booted \(pid:\d+\)/, 15_000, opts.workers ?? 1);
  return { srv, port, url: `http://127.0.0.1:${port}` };
}

/** Runs the CLI to completion (for commands that exit by themselves). */
export async function run(args: string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<{ code: number | null; output: string; ms: number }> {
  const t0 = Date.now();
  const srv = start(args, opts);
  const timer = setTimeout(() => srv.kill(), opts.timeoutMs ?? 20_000);
  const exit = await srv.exited;
  clearTimeout(timer);
  return { code: exit.code, output: srv.output, ms: Date.now() - t0 };
}
