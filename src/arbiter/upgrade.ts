/**
 * Binary upgrade (USR2). Gunicorn re-executes itself with the listening sockets left open; Node
 * cannot exec in place, so the old master starts the new one as a child process and passes the
 * listening descriptors down as its file descriptors 3, 4, ... The new master serves alongside
 * the old one (pidfile PIDFILE.2) and, once its parent has exited, promotes itself to PIDFILE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Listener } from '../listeners/create.js';

const FDS_ENV = 'TSGUNICORN_FDS';
const PARENT_ENV = 'TSGUNICORN_PID';

export interface Inheritance {
  fds: number[];
  /** The master that started us; we are promoted once it has gone. */
  parentPid: number;
}

/** In a master started by USR2: what it inherited. The variables are removed so workers and later upgrades do not see them. */
export function takeInheritance(env: NodeJS.ProcessEnv = process.env): Inheritance | null {
  const fds = env[FDS_ENV];
  const parent = env[PARENT_ENV];
  delete env[FDS_ENV];
  delete env[PARENT_ENV];
  if (!fds || !parent) return null;
  return { fds: fds.split(',').map(Number), parentPid: Number(parent) };
}

/** Starts the new master with the same command line, holding our listening sockets. */
export function startNewMaster(listeners: readonly Listener[], cwd: string): ChildProcess {
  const fds = listeners.map((l) => l.handle.fd);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd,
    env: { ...process.env, [FDS_ENV]: fds.map((_, i) => 3 + i).join(','), [PARENT_ENV]: String(process.pid) },
    stdio: ['inherit', 'inherit', 'inherit', ...fds],
  });
  // The old master may exit (TERM) while the new one runs on.
  child.unref();
  return child;
}
