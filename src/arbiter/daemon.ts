/**
 * --daemon (-D). Gunicorn forks twice and calls setsid; Node cannot fork, so the command starts
 * itself again as a detached process (a new session, no controlling terminal) with stdin on
 * /dev/null and stdout and stderr on --error-logfile when it names a file, else on /dev/null, and
 * a umask of 0o22 (as Gunicorn's daemonize). The command the user ran waits until the daemon
 * is up — its sockets bound and its pidfile written — and exits 0; if the daemon fails to start,
 * the command prints the daemon's error lines and exits with its status.
 *
 * A master started by USR2 from a daemon is already detached and does not daemonize again.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ExitStatus, oneLine } from '../errors.js';
import type { Logger } from '../log/logger.js';

const DAEMON_ENV = 'TSGUNICORN_DAEMON';
/** The master started by USR2 inherits its sockets through this variable (see upgrade.ts). */
const UPGRADE_ENV = 'TSGUNICORN_FDS';
/** How long the command waits for the daemon to come up before giving up on it (it goes on running). */
const READY_TIMEOUT_MS = 60_000;

type DaemonMessage = { t: 'daemon-ready' } | { t: 'daemon-log'; line: string };

let isDaemonChild = false;

export interface DaemonizeOptions {
  /** --error-logfile: where the daemon's stdout and stderr go ('-': /dev/null). */
  errorlog: string;
  /** The directory the command was started from; the daemon starts there too. */
  cwd: string;
  argv?: readonly string[];
}

/**
 * In the command the user ran: starts the daemon and exits (never returns). In the daemon, and in
 * a master started by USR2: returns at once.
 */
export async function daemonize(opts: DaemonizeOptions): Promise<void> {
  if (process.env[DAEMON_ENV] === '1') {
    delete process.env[DAEMON_ENV];
    isDaemonChild = process.connected;
    process.umask(0o22);
    return;
  }
  if (process.env[UPGRADE_ENV]) return;

  let out: number;
  const target = opts.errorlog === '-' ? '/dev/null' : opts.errorlog;
  try {
    out = openSync(target, 'a');
  } catch (err) {
    process.stderr.write(`tsgunicorn: error: Invalid value for errorlog: ${JSON.stringify(opts.errorlog)}: ${oneLine(err)}\n`);
    process.exit(ExitStatus.USAGE);
  }
  const argv = opts.argv ?? process.argv.slice(1);
  const child = spawn(process.execPath, [...process.execArgv, ...argv], {
    cwd: opts.cwd,
    env: { ...process.env, [DAEMON_ENV]: '1' },
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
  });
  closeSync(out);

  const status = await new Promise<number>((resolve) => {
    const timer = setTimeout(() => {
      process.stderr.write(`tsgunicorn: error: the daemon (pid ${child.pid}) did not come up within ${READY_TIMEOUT_MS / 1000} s; it is still running\n`);
      resolve(ExitStatus.CONFIG);
    }, READY_TIMEOUT_MS);
    child.on('message', (msg: DaemonMessage) => {
      if (msg?.t === 'daemon-log') process.stderr.write(msg.line.endsWith('\n') ? msg.line : `${msg.line}\n`);
      else if (msg?.t === 'daemon-ready') {
        clearTimeout(timer);
        resolve(ExitStatus.OK);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      process.stderr.write(`tsgunicorn: error: cannot start the daemon: ${oneLine(err)}\n`);
      resolve(ExitStatus.CONFIG);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      process.stderr.write(`tsgunicorn: error: the daemon exited during startup (${signal ?? `status ${code}`})\n`);
      resolve(code || ExitStatus.CONFIG);
    });
  });
  if (child.connected) child.disconnect();
  child.unref();
  process.exit(status);
}

function tell(msg: DaemonMessage): void {
  if (isDaemonChild && process.connected) process.send?.(msg);
}

/**
 * In the daemon, until it is up: error lines also go to the command that started it, which prints
 * them, so a daemon that cannot bind or write its pidfile says why on the terminal.
 */
export function teeStartupErrors(log: Logger): Logger {
  if (!isDaemonChild) return log;
  const tee =
    (level: 'error' | 'critical') =>
    (msg: string, extra?: object): void => {
      log[level](msg, extra);
      tell({ t: 'daemon-log', line: `[${level.toUpperCase()}] ${msg}` });
    };
  return {
    ...log,
    error: tee('error'),
    critical: tee('critical'),
    exception(msg, err) {
      log.exception(msg, err);
      tell({ t: 'daemon-log', line: `[ERROR] ${msg}: ${oneLine(err)}` });
    },
  };
}

/** In the daemon, once the sockets are bound and the pidfile written: release the command that started it. */
export function notifyDaemonParent(): void {
  if (!isDaemonChild) return;
  tell({ t: 'daemon-ready' });
  isDaemonChild = false;
  if (process.connected) process.disconnect();
}
