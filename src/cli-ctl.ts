/**
 * `tsgunicorn ctl [OPTIONS] COMMAND [ARG]`: talks to a running master over its control socket
 * (see src/control/server.ts). Prints a readable table by default, the master's JSON answer with
 * --json. Exit status 0 on success, 1 when the master cannot be reached or refuses, 2 on a usage
 * error.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import type { MasterStats, WorkerStats } from './control/commands.js';
import { discoverSockets, socketFromPidfile } from './control/paths.js';
import type { ControlResponse } from './control/server.js';

const USAGE = `Usage: tsgunicorn ctl [OPTIONS] COMMAND [ARG]

Commands:
  stats                  the master and every worker: pid, age, booted at, requests served,
                         in flight, last heartbeat, RSS, class, threads busy
  workers                the workers only
  reload                 reload the configuration and replace every worker (as HUP)
  add [N]                N more workers (default 1; as TTIN)
  remove [N]             N fewer workers (default 1, never below 1; as TTOU)
  reopen-logs            reopen every log file (as USR1)
  shutdown [--graceful]  stop the server: at once (as INT), or letting requests finish (as TERM)

Options:
  -s, --control-socket PATH  the master's control socket
  -p, --pid FILE             find the socket from the master's pidfile (--pid of the server)
  -j, --json                 print the master's answer as JSON
  -h, --help                 this text

Without -s or -p, the socket of the one tsgunicorn master of this user running with the
default socket path is used ($XDG_RUNTIME_DIR or the temp directory).`;

class CtlError extends Error {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super(message);
  }
}

function fail(message: string, status: number): never {
  process.stderr.write(`tsgunicorn ctl: ${message}\n`);
  process.exit(status);
}

/** Sends one request and resolves with the answer line. */
export function request(path: string, command: string, args: unknown[] = [], timeoutMs = 10_000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new CtlError(`no answer from ${path} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify({ command, args })}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlResponse);
      } catch {
        reject(new CtlError(`unreadable answer from ${path}`));
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no master is listening there' : err.message;
      reject(new CtlError(`cannot reach ${path}: ${why} (${err.code ?? 'error'})`));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (!buf.includes('\n')) reject(new CtlError(`${path} closed the connection without answering`));
    });
  });
}

function findSocket(opts: { socket?: string; pid?: string }): string {
  if (opts.socket) return opts.socket;
  if (opts.pid) {
    try {
      return socketFromPidfile(opts.pid);
    } catch (err) {
      throw new CtlError(`cannot read the pidfile: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const found = discoverSockets();
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new CtlError('no running tsgunicorn master found; name its socket with --control-socket PATH or its pidfile with --pid FILE');
  throw new CtlError(`several masters are running; choose one with --control-socket:\n  ${found.join('\n  ')}`);
}

// ---- readable output --------------------------------------------------------------------------

export function formatBytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatDuration(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** Columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const shortTime = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const num = (n: number | null) => (n === null ? '-' : String(n));

export function workersTable(workers: WorkerStats[]): string {
  const rows = [['PID', 'AGE', 'BOOTED AT', 'UPTIME', 'REQUESTS', 'IN FLIGHT', 'LAST BEAT', 'RSS', 'CLASS', 'THREADS BUSY']];
  for (const w of workers) {
    rows.push([
      String(w.pid) + (w.leaving ? '*' : ''),
      String(w.age),
      w.booted ? shortTime(w.booted_at) : 'booting',
      formatDuration(w.uptime),
      num(w.requests),
      num(w.in_flight),
      `${w.last_heartbeat.toFixed(1)}s ago`,
      formatBytes(w.rss),
      w.class,
      w.threads_busy === null ? '-' : `${w.threads_busy}/${w.threads}`,
    ]);
  }
  const note = workers.some((w) => w.leaving) ? '\n(* leaving)' : '';
  return `${table(rows)}\n\nTotal: ${workers.length} worker${workers.length === 1 ? '' : 's'}${note}`;
}

export function statsText(s: MasterStats): string {
  const restarts = Object.entries(s.worker_restarts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `tsgunicorn ${s.version}, master ${s.pid}, ${s.state}, up ${formatDuration(s.uptime)} (since ${shortTime(s.started_at)})`,
    `workers: ${s.workers_current} running, ${s.workers_target} wanted, class ${s.worker_class}; requests served: ${s.requests_total}`,
    `worker restarts: ${restarts}`,
    '',
    workersTable(s.workers),
  ].join('\n');
}

function humanText(command: string, result: Record<string, unknown>): string {
  switch (command) {
    case 'stats':
      return statsText(result as unknown as MasterStats);
    case 'workers':
      return workersTable((result as { workers: WorkerStats[] }).workers);
    case 'add':
      return `added ${String(result.added)} worker(s): ${String(result.previous)} -> ${String(result.total)}`;
    case 'remove':
      return `removed ${String(result.removed)} worker(s): ${String(result.previous)} -> ${String(result.total)}`;
    case 'reload':
      return 'reloading: the configuration is read again and every worker replaced';
    case 'reopen-logs':
      return 'log files reopened';
    case 'shutdown':
      return result.graceful ? 'stopping gracefully' : 'stopping';
    default:
      return JSON.stringify(result, null, 2);
  }
}

const COMMANDS = new Set(['stats', 'workers', 'reload', 'add', 'remove', 'reopen-logs', 'shutdown']);

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'control-socket': { type: 'string', short: 's' },
        pid: { type: 'string', short: 'p' },
        json: { type: 'boolean', short: 'j', default: false },
        graceful: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const [command, arg, ...extra] = positionals;
  if (!command) fail(`no command given\n\n${USAGE}`, 2);
  if (!COMMANDS.has(command)) fail(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`, 2);
  if (extra.length > 0 || (arg !== undefined && command !== 'add' && command !== 'remove' && !(command === 'shutdown' && arg === 'graceful'))) {
    fail(`unexpected argument ${JSON.stringify(extra[0] ?? arg)} for ${command}`, 2);
  }
  const args: unknown[] = [];
  if (command === 'add' || command === 'remove') {
    if (arg !== undefined && !/^\d+$/.test(arg)) fail(`${command} takes a number of workers, got ${JSON.stringify(arg)}`, 2);
    if (arg !== undefined) args.push(Number(arg));
  }
  if (command === 'shutdown' && (values.graceful || arg === 'graceful')) args.push('graceful');

  try {
    const path = findSocket({ socket: values['control-socket'], pid: values.pid });
    const answer = await request(path, command, args);
    if (!answer.ok) throw new CtlError(answer.error);
    const out = values.json ? JSON.stringify(answer.result, null, 2) : humanText(command, answer.result as Record<string, unknown>);
    process.stdout.write(`${out}\n`);
  } catch (err) {
    if (err instanceof CtlError) fail(err.message, err.status);
    throw err;
  }
}
