/**
 * The error log: pino underneath, printing Gunicorn's text lines by default
 * (`[2026-11-23 10:00:00 +0000] [1234] [INFO] Booting worker with pid: 1234`) so that people who
 * grep Gunicorn's log find the same words. Error-log lines are rare (never per request), so the
 * text formatting cost does not matter; writes are synchronous so no line is lost on exit.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import pino from 'pino';

export const LOG_LEVELS = { debug: 20, info: 30, warning: 40, error: 50, critical: 60 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

export interface Logger {
  debug(msg: string, extra?: object): void;
  info(msg: string, extra?: object): void;
  warning(msg: string, extra?: object): void;
  error(msg: string, extra?: object): void;
  critical(msg: string, extra?: object): void;
  /** Logs an error with its stack, as Gunicorn's log.exception does. */
  exception(msg: string, err: unknown): void;
  /** Closes and reopens the log file (USR1, after logrotate moved it). */
  reopen(): void;
}

export interface LoggerOptions {
  /** '-' for stderr, or a file path (appended to). */
  errorlog: string;
  loglevel: LogLevel;
  /** JSON lines instead of Gunicorn's text lines. */
  json?: boolean;
}

const LEVEL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(LOG_LEVELS).map(([name, n]) => [n, name.toUpperCase()]),
);

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Gunicorn's datefmt: `[%Y-%m-%d %H:%M:%S %z]`, local time. */
export function gunicornTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

export function formatTextLine(rec: { time: number; pid: number; level: number; msg?: string; stack?: string }): string {
  let line = `[${gunicornTime(new Date(rec.time))}] [${rec.pid}] [${LEVEL_NAMES[rec.level] ?? rec.level}] ${rec.msg ?? ''}\n`;
  if (rec.stack) line += rec.stack.endsWith('\n') ? rec.stack : `${rec.stack}\n`;
  return line;
}

/** A pino destination that owns its file descriptor so it can be reopened. */
class Destination {
  private fd: number;
  constructor(
    private readonly target: string,
    private readonly json: boolean,
  ) {
    this.fd = this.open();
  }
  private open(): number {
    return this.target === '-' ? 2 : openSync(this.target, 'a');
  }
  write(chunk: string): boolean {
    const out = this.json ? chunk : formatTextLine(JSON.parse(chunk));
    try {
      writeSync(this.fd, out);
    } catch {
      // A closed stderr (daemonised, terminal gone) must not take the server down with it.
    }
    return true;
  }
  reopen(): void {
    if (this.target === '-') return;
    const old = this.fd;
    this.fd = this.open();
    closeSync(old);
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const dest = new Destination(opts.errorlog, opts.json ?? false);
  const p = pino(
    {
      level: opts.loglevel,
      customLevels: LOG_LEVELS,
      useOnlyCustomLevels: true,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: opts.json ? { level: (label) => ({ level: label }) } : undefined,
    },
    dest,
  );
  const at =
    (level: LogLevel) =>
    (msg: string, extra?: object): void => {
      if (extra) p[level](extra, msg);
      else p[level](msg);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warning: at('warning'),
    error: at('error'),
    critical: at('critical'),
    exception(msg, err) {
      const stack = err instanceof Error ? (err.stack ?? String(err)) : String(err);
      p.error({ stack }, msg);
    },
    reopen: () => dest.reopen(),
  };
}
