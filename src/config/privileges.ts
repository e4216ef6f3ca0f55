/**
 * Process settings as Gunicorn has them: --user, --group, --initgroups (workers drop their
 * privileges after the master has bound the sockets) and --umask (the mode of the unix socket
 * files the master binds).
 *
 * Names are resolved when the configuration is read, so an unknown user or group is a one-line
 * usage error before anything starts. /etc/passwd and /etc/group are read first; names only a
 * name service knows (LDAP, NIS) are asked of `id`, which goes through NSS.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync, statSync } from 'node:fs';
import { ConfigError, oneLine } from '../errors.js';

interface DbEntry {
  name: string;
  id: number;
  /** /etc/passwd: the primary group. /etc/group: unused. */
  gid: number;
}

function readDb(file: string): DbEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: DbEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    const id = Number(f[2]);
    if (!f[0] || !Number.isInteger(id)) continue;
    out.push({ name: f[0], id, gid: Number(f[3]) });
  }
  return out;
}

/** `id` answers for users a name service knows; null when it does not know them (or is missing). */
function idCommand(args: string[]): number | null {
  try {
    const out = execFileSync('id', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return /^\d+$/.test(out) ? Number(out) : null;
  } catch {
    return null;
  }
}

const ID = /^\s*\d+\s*$/;

/** The uid of a user name; null when no user has that name. */
export function lookupUser(name: string): number | null {
  const found = readDb('/etc/passwd').find((e) => e.name === name);
  return found ? found.id : idCommand(['-u', '--', name]);
}

export function lookupGroup(name: string): number | null {
  const found = readDb('/etc/group').find((e) => e.name === name);
  if (found) return found.id;
  // `getent group NAME` would be the NSS way; `id -g` only knows users. Try getent when present.
  try {
    const out = execFileSync('getent', ['group', '--', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    const gid = Number(out.split(':')[2]);
    return Number.isInteger(gid) ? gid : null;
  } catch {
    return null;
  }
}

/** The primary group of a uid: its /etc/passwd line, else `id -g`. */
export function primaryGroupOf(uid: number): number | null {
  const found = readDb('/etc/passwd').find((e) => e.id === uid);
  return found ? found.gid : idCommand(['-g', '--', String(uid)]);
}

function idSetting(kind: 'user' | 'group', lookup: (name: string) => number | null) {
  return (value: unknown, setting: string): number | null => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number') {
      if (!Number.isInteger(value) || value < 0) throw new ConfigError(setting, value, `must be a ${kind} name or a non-negative ${kind} id`);
      return value;
    }
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(setting, value, `must be a ${kind} name or id`);
    if (ID.test(value)) return Number(value);
    const id = lookup(value.trim());
    if (id === null) throw new ConfigError(setting, value, `no such ${kind}`);
    return id;
  };
}

/** --user: a name or a uid. Validated (and resolved to a uid) when the configuration is read. */
export const userSetting = idSetting('user', lookupUser);
/** --group: a name or a gid. */
export const groupSetting = idSetting('group', lookupGroup);

/**
 * --umask, as Gunicorn's auto_int takes it: a number, or a string in any base Python's int(x, 0)
 * reads ('0o22', '0x12', '18'), where a leading 0 means octal ('022', '0022').
 */
export function umaskSetting(value: unknown, setting: string): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') {
    const s = value.trim().toLowerCase();
    if (/^0o[0-7]+$/.test(s)) n = Number.parseInt(s.slice(2), 8);
    else if (/^0x[0-9a-f]+$/.test(s)) n = Number.parseInt(s.slice(2), 16);
    else if (/^0b[01]+$/.test(s)) n = Number.parseInt(s.slice(2), 2);
    else if (/^0\d+$/.test(s)) {
      if (!/^0[0-7]+$/.test(s)) throw new ConfigError(setting, value, 'a leading 0 means octal: digits 0 to 7');
      n = Number.parseInt(s, 8);
    }
    else if (/^\d+$/.test(s)) n = Number(s);
    else throw new ConfigError(setting, value, "must be a file mode mask such as 0o22, 022 or 18");
  } else throw new ConfigError(setting, value, 'must be a file mode mask such as 0o22, 022 or 18');
  if (!Number.isInteger(n) || n < 0 || n > 0o777) throw new ConfigError(setting, value, 'must be between 0 and 0o777');
  return n;
}

export interface Owner {
  uid: number | null;
  gid: number | null;
  initgroups: boolean;
}

/**
 * Who the workers run as. Gunicorn leaves the group alone unless --group is given, which leaves a
 * worker started by root with `--user nobody` in group root; here, --user without --group takes
 * the user's primary group instead.
 */
export function workerOwner(s: { user?: number | null; group?: number | null; initgroups?: boolean }): Owner {
  const uid = s.user ?? null;
  let gid = s.group ?? null;
  if (gid === null && uid !== null && uid !== process.getuid?.()) gid = primaryGroupOf(uid);
  return { uid, gid, initgroups: s.initgroups ?? false };
}

/**
 * In a worker, before it loads hooks or the app: become --user/--group. The group goes first
 * (only root may change it). Without --initgroups the supplementary groups are reduced to the
 * new group alone, so a worker started by root keeps none of root's groups; with it, they are the
 * user's groups from the group database, plus the group (Gunicorn's initgroups(3)).
 * The log files (`files`, '-' and null skipped) are given to the user and group first, as Gunicorn
 * does, so that the worker's threads and a USR1 reopen can open them again.
 * Throws a one-line error when the process may not change its identity.
 */
export function dropPrivileges(owner: Owner, files: readonly (string | null | undefined)[] = []): void {
  if (typeof process.setuid !== 'function') return; // not POSIX
  const { uid, gid } = owner;
  const changingUser = uid !== null && uid !== process.getuid!();
  const changingGroup = gid !== null && gid !== process.getgid!();
  if (changingUser || changingGroup) {
    for (const f of files) {
      if (!f || f === '-') continue;
      try {
        if (statSync(f).isFile()) chownSync(f, uid ?? -1, gid ?? -1);
      } catch {
        // Gone, or not ours to give: the worker makes do, as in Gunicorn. (Devices such as /dev/null are left alone.)
      }
    }
  }
  try {
    if (gid !== null && (changingUser || changingGroup || owner.initgroups)) {
      let grouped = false;
      if (owner.initgroups && uid !== null) {
        try {
          (process as unknown as { initgroups(user: number, extraGroup: number): void }).initgroups(uid, gid);
          grouped = true;
        } catch {
          // A uid without a passwd entry has no name to look groups up by (Gunicorn skips it too).
        }
      }
      if (!grouped && process.geteuid!() === 0) process.setgroups!([gid]);
      if (changingGroup) process.setgid!(gid);
    }
    if (changingUser) process.setuid!(uid);
  } catch (err) {
    throw new Error(`Cannot switch the worker to user ${uid ?? process.getuid!()} and group ${gid ?? process.getgid!()}: ${oneLine(err)}`);
  }
}

/** How the master makes unix socket files: under --umask, owned by the workers' user and group (as Gunicorn). */
export function unixSocketOptions(s: { user?: number | null; group?: number | null; initgroups?: boolean; umask: number }): {
  umask: number;
  uid: number | null;
  gid: number | null;
} {
  const owner = workerOwner(s);
  return { umask: s.umask, uid: owner.uid, gid: owner.gid };
}
