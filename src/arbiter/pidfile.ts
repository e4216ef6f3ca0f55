/**
 * The master's pidfile, as Gunicorn keeps it: refused when it names a live process, written
 * atomically, removed on exit only if it still holds our pid.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TsgunicornError } from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export class Pidfile {
  path: string;
  constructor(file: string, cwd: string) {
    this.path = path.resolve(cwd, file);
  }

  create(pid: number): void {
    const old = readPid(this.path);
    if (old !== null && old !== pid && isAlive(old)) {
      throw new TsgunicornError('E_PIDFILE', `Already running on PID ${old} (or pid file '${this.path}' is stale)`);
    }
    const tmp = `${this.path}.${pid}.tmp`;
    try {
      writeFileSync(tmp, `${pid}\n`);
      renameSync(tmp, this.path);
    } catch (err) {
      throw new TsgunicornError('E_PIDFILE', `Cannot write pid file '${this.path}': ${(err as Error).message}`);
    }
  }

  /** Moves the pidfile (USR2: to PIDFILE.oldbin and back; a promoted master: PIDFILE.2 to PIDFILE). */
  rename(to: string): void {
    try {
      renameSync(this.path, to);
    } catch {
      // Someone removed it; write it anew where it belongs.
      writeFileSync(to, `${process.pid}\n`);
    }
    this.path = to;
  }

  unlink(pid: number): void {
    try {
      if (readPid(this.path) === pid) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}
