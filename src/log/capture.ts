/**
 * `--capture-output`: what the app writes to stdout and stderr (console.log, console.error, a
 * stray process.stdout.write) goes to the error log file, as Gunicorn's capture_output does.
 * Gunicorn redirects the descriptors with dup2, which Node cannot do; instead the process's
 * stdout and stderr streams write to the error log. gthread's app threads are covered too: Node
 * forwards a thread's stdout and stderr to its process's streams.
 *
 * As in Gunicorn it only applies when the error log is a file ('-' is stderr already), the text
 * goes in as it is written, and USR1 reopens the file. With `--log-json` each line of output
 * becomes a JSON record instead (`{"level":"info","stream":"stdout","msg":...}`), so that the
 * file stays one JSON object per line.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

type Write = typeof process.stdout.write;

export class OutputCapture {
  private fd: number;
  private readonly partial = { stdout: '', stderr: '' };
  private readonly originals: [NodeJS.WriteStream, Write][] = [];

  constructor(
    private readonly target: string,
    private readonly json: boolean,
  ) {
    this.fd = openSync(target, 'a');
  }

  install(): void {
    for (const [stream, name] of [
      [process.stdout, 'stdout'],
      [process.stderr, 'stderr'],
    ] as const) {
      this.originals.push([stream, stream.write]);
      const self = this;
      stream.write = function (chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
        const done = typeof encoding === 'function' ? encoding : cb;
        const text =
          typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
        self.write(name, text);
        if (typeof done === 'function') process.nextTick(done as () => void);
        return true;
      } as Write;
    }
  }

  private write(stream: 'stdout' | 'stderr', text: string): void {
    if (!this.json) return this.out(text);
    const lines = (this.partial[stream] + text).split('\n');
    this.partial[stream] = lines.pop()!;
    for (const line of lines) this.out(this.record(stream, line));
  }

  private record(stream: string, msg: string): string {
    return `${JSON.stringify({ level: 'info', time: Date.now(), pid: process.pid, stream, msg })}\n`;
  }

  private out(text: string): void {
    try {
      writeSync(this.fd, text);
    } catch {
      // A full disk must not take the app down with it.
    }
  }

  /** USR1: the file was moved by logrotate. */
  reopen(): void {
    const old = this.fd;
    this.fd = openSync(this.target, 'a');
    closeSync(old);
  }

  /** Writes what is left of unfinished lines (JSON mode), at exit. */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.out(this.record(stream, this.partial[stream]));
      this.partial[stream] = '';
    }
  }

  uninstall(): void {
    for (const [stream, write] of this.originals.splice(0)) stream.write = write;
  }
}
