/**
 * What the fault tests read from /proc about processes they did not start themselves (workers):
 * state, CPU time, resident memory, and which TCP connections a process holds.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times. */
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const PAGE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim()) || 4096;

/** The fields after the command name (whose parentheses may hold anything). */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** 'R', 'S', 'T', 'Z', ...; null once the process is reaped. */
export function procState(pid: number): string | null {
  return statFields(pid)?.[0] ?? null;
}

/** Running or stopped, not a zombie waiting to be reaped: a process that still holds resources. */
export function isLive(pid: number): boolean {
  const s = procState(pid);
  return s !== null && s !== 'Z' && s !== 'X';
}

/** User + system CPU time of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  // utime and stime are fields 14 and 15 of stat; f starts at field 3.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
  } catch {
    return NaN;
  }
}

/** Spins (synchronously: nothing else runs meanwhile) until the process is in one of `states` or gone. */
export function spinUntilState(pid: number, states: string, ms = 2000): string | null {
  const until = Date.now() + ms;
  for (;;) {
    const s = procState(pid);
    if (s === null || states.includes(s) || Date.now() > until) return s;
  }
}

/** The inodes of the sockets a process has open. */
export function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // Closed while we looked.
    }
  }
  return out;
}

/**
 * The remote ports of the TCP connections to `localPort` among the given socket inodes: for a
 * worker, the client ports of the connections it holds.
 */
export function peerPorts(inodes: Set<string>, localPort: number): Set<number> {
  const out = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    // Tables of tens of thousands of lines (TIME_WAIT) under load: look the few inodes up, not every line.
    for (const inode of inodes) {
      for (let at = text.indexOf(` ${inode} `); at >= 0; at = text.indexOf(` ${inode} `, at + 1)) {
        // The inode is the tenth field: nine come before it on its line.
        const f = text.slice(text.lastIndexOf('\n', at) + 1, at).trim().split(/\s+/);
        if (f.length !== 9) continue;
        if (parseInt(f[1]!.split(':')[1]!, 16) === localPort) out.add(parseInt(f[2]!.split(':')[1]!, 16));
        break;
      }
    }
  }
  return out;
}

/** The soft limit on open files of this process (`ulimit -n`); its children inherit it. */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}
