/**
 * Where the control socket lives when `--control-socket` does not say.
 *
 * Gunicorn 25 uses one fixed name ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl), so
 * two servers of one user fight over it. tsgunicorn names the socket after the master's pid,
 * `tsgunicorn-PID.ctl`, in the first of:
 *
 *   1. the pidfile's directory (`--pid /run/myapp/app.pid`): the runtime directory the operator
 *      already made for this server (systemd's RuntimeDirectory=), and `ctl --pid FILE` finds
 *      the socket from the pidfile alone;
 *   2. $XDG_RUNTIME_DIR: the user's private runtime directory (mode 0700, cleaned at logout);
 *   3. the temp directory (os.tmpdir()), writable everywhere.
 *
 * With the pid in the name, masters never collide (several servers, tests in parallel, a USR2
 * upgrade where old and new master run side by side), and a socket left by a dead master is
 * recognisable as stale. `tsgunicorn ctl` without a path finds the sockets of live masters owned
 * by the calling user in 2 and 3.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const NAME = /^tsgunicorn-(\d+)\.ctl$/;

export function socketName(pid: number): string {
  return `tsgunicorn-${pid}.ctl`;
}

function xdgRuntimeDir(env: NodeJS.ProcessEnv): string | null {
  const dir = env.XDG_RUNTIME_DIR;
  if (!dir) return null;
  try {
    return statSync(dir).isDirectory() ? dir : null;
  } catch {
    return null;
  }
}

/** The default path for a master with this pid. */
export function defaultSocketPath(pid: number, pidfile: string | null, cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = pidfile ? path.dirname(path.resolve(cwd, pidfile)) : (xdgRuntimeDir(env) ?? os.tmpdir());
  return path.join(dir, socketName(pid));
}

/** `ctl --pid FILE`: the socket of the master whose pid the file holds. */
export function socketFromPidfile(pidfile: string): string {
  const text = readFileSync(pidfile, 'utf8').trim();
  if (!/^\d+$/.test(text)) throw new Error(`${pidfile} does not hold a pid`);
  return path.join(path.dirname(path.resolve(pidfile)), socketName(Number(text)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Sockets of live masters owned by this user, in the default directories, searched in the order a
 * master picks them: those in $XDG_RUNTIME_DIR when there are any, else those in the temp directory.
 */
export function discoverSockets(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [xdgRuntimeDir(env), os.tmpdir()].filter((d): d is string => d !== null);
  const uid = process.getuid?.();
  for (const dir of [...new Set(dirs)]) {
    const found: string[] = [];
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = NAME.exec(name);
      if (!m || !alive(Number(m[1]))) continue;
      const p = path.join(dir, name);
      try {
        const st = statSync(p);
        if (st.isSocket() && (uid === undefined || st.uid === uid)) found.push(p);
      } catch {
        // Gone meanwhile.
      }
    }
    if (found.length > 0) return found.sort();
  }
  return [];
}
