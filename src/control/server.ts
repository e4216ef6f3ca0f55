/**
 * The control socket: a unix socket in the master, mode 0600 (only its owner may connect), that
 * takes one JSON request per line and answers one JSON line:
 *
 *   → {"command":"add","args":[2]}
 *   ← {"ok":true,"result":{"added":2,"previous":2,"total":4}}
 *   ← {"ok":false,"error":"unknown command \"x\"; ..."}
 *
 * A connection may send several requests; `tsgunicorn ctl` sends one and closes.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { Commands } from './commands.js';
import { CommandError } from './commands.js';

const MAX_REQUEST = 64 * 1024;

export interface ControlRequest {
  command: string;
  args?: unknown[];
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export class ControlServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private listening = false;
  /** The inode of our socket file: on close, a file someone else put at the path is left alone. */
  private ino = 0;

  constructor(
    readonly path: string,
    private readonly commands: Commands,
  ) {
    this.server = net.createServer((s) => this.onConnection(s));
  }

  /** Listens with mode 0600; rejects with the reason it cannot. */
  listen(): Promise<void> {
    try {
      // The path is ours (it names our pid, or the operator chose it): a socket left there by a
      // dead process is removed; anything else is left alone and reported.
      if (lstatSync(this.path).isSocket()) unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // Created with mode 0600 from the start (umask), not chmod-ed after a window where others could connect.
      const umask = process.umask(0o177);
      try {
        this.server.listen(this.path, () => {
          this.server.off('error', reject);
          this.listening = true;
          try {
            chmodSync(this.path, 0o600);
            this.ino = lstatSync(this.path).ino;
          } catch {
            // The umask already made it 0600.
          }
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let buf = '';
    let queue = Promise.resolve();
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) {
        socket.end(`${JSON.stringify({ ok: false, error: 'request too large' })}\n`);
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        queue = queue.then(async () => {
          const answer = await this.answer(line);
          if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
        });
      }
    });
  }

  private async answer(line: string): Promise<ControlResponse> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
      if (typeof req?.command !== 'string') throw new Error('no "command"');
    } catch (err) {
      return { ok: false, error: `bad request: ${err instanceof Error ? err.message : String(err)}` };
    }
    try {
      return { ok: true, result: await this.commands.run(req.command, Array.isArray(req.args) ? req.args : []) };
    } catch (err) {
      if (err instanceof CommandError) return { ok: false, error: err.message };
      return { ok: false, error: `${req.command} failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  close(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      try {
        if (lstatSync(this.path).ino === this.ino) unlinkSync(this.path);
      } catch {
        // Already gone.
      }
    });
  }
}
