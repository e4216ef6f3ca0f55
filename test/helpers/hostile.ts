/**
 * Hostile clients for the fault suite: connections that trickle their headers or their body,
 * raw exchanges of arbitrary bytes, and requests generated at random or mutated from valid ones
 * by a seeded PRNG.
 */
import net from 'node:net';

export interface Trickler {
  opened: number;
  /** When the server closed the connection (0: still open). */
  closed: number;
  /** What the server answered. */
  data: string;
  socket: net.Socket;
  done: Promise<void>;
}

/**
 * Sends `head` at once, then one more piece every `everyMs` (a header line that never ends the
 * head, or one body byte of a body that never completes).
 */
export function trickle(port: number, head: string, piece: (n: number) => string, everyMs = 500): Trickler {
  const socket = net.connect({ host: '127.0.0.1', port });
  const c: Trickler = { opened: 0, closed: 0, data: '', socket, done: Promise.resolve() };
  let timer: NodeJS.Timeout | undefined;
  c.done = new Promise<void>((resolve) => {
    socket.on('connect', () => {
      c.opened = Date.now();
      socket.write(head);
      let n = 0;
      timer = setInterval(() => socket.writable && socket.write(piece(n++)), everyMs);
    });
    socket.on('data', (d: Buffer) => (c.data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      c.closed = Date.now();
      resolve();
    });
  });
  return c;
}

export interface Exchange {
  /** The status of the first response, or null when none came. */
  status: number | null;
  /** The server closed the connection (else the client gave up after `ms`). */
  closed: boolean;
  bytes: number;
}

/** Writes the pieces 5 ms apart, half-closes, and reads until the server closes or `ms` pass. */
export function exchange(target: net.NetConnectOpts, pieces: Buffer[], ms: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const socket = net.connect(target, () => {
      pieces.forEach((p, i) => setTimeout(() => socket.writable && socket.write(p), i * 5));
      setTimeout(() => socket.writable && socket.end(), pieces.length * 5);
    });
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const head = Buffer.concat(chunks).toString('latin1', 0, 12);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : null, closed, bytes });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      if (chunks.length < 4) chunks.push(d);
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
  });
}

const BASES = [
  'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /slow?ms=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world',
  'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET http://x/a/../b?c=%20d HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nCookie: a=b; c=d\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
  'PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
];

/** Pieces that tend to matter to an HTTP parser. */
const TOKENS = [
  '\r\n', '\n', '\r', ' ', '\t', ':', '\0', '\x7f', '\xff', '\r\n\r\n', '\r\n ', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1',
  'Content-Length: ', 'Content-Length: -1\r\n', 'Content-Length: 5\r\n', 'Content-Length: 99999999999999999999\r\n',
  'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip, chunked\r\n', 'Transfer-Encoding: identity\r\n', ';ext=1', 'fffffffffffffff\r\n',
  '0x10', '%00', '%', '../', '?', '#', 'Host: y\r\n', 'Host:\r\n', 'X_Under_Score: 1\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n',
  'Upgrade: websocket\r\nConnection: Upgrade\r\n', 'Expect: 100-continue\r\n', 'GET', 'POST', 'CONNECT', 'TRACE', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'A'.repeat(300), 'é', '\u2028',
];

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (rand: Rand, n: number) => Math.floor(rand() * n);

function randomBytes(rand: Rand, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(rand, 256);
  return b;
}

function mutateOnce(rand: Rand, b: Buffer): Buffer {
  const at = int(rand, b.length + 1);
  switch (int(rand, 7)) {
    case 0: {
      // Flip a byte.
      const c = Buffer.from(b);
      if (c.length > 0) c[Math.min(at, c.length - 1)] = int(rand, 256);
      return c;
    }
    case 1:
      return Buffer.concat([b.subarray(0, at), randomBytes(rand, 1 + int(rand, 8)), b.subarray(at)]);
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(rand, 16)))]);
    case 3: {
      // Repeat a stretch.
      const end = Math.min(b.length, at + 1 + int(rand, 64));
      const part = b.subarray(at, end);
      return Buffer.concat([b.subarray(0, end), ...Array.from({ length: 1 + int(rand, 50) }, () => part), b.subarray(end)]);
    }
    case 4:
      return Buffer.concat([b.subarray(0, at), Buffer.from(pick(rand, TOKENS), 'latin1'), b.subarray(at)]);
    case 5:
      return b.subarray(0, at);
    default: {
      // Replace a stretch with a token.
      const end = Math.min(b.length, at + 1 + int(rand, 8));
      return Buffer.concat([b.subarray(0, at), Buffer.from(pick(rand, TOKENS), 'latin1'), b.subarray(end)]);
    }
  }
}

/** One request: a valid one mutated 1 to 4 times, tokens strung together, or random bytes. */
export function hostileRequest(rand: Rand): Buffer {
  const kind = rand();
  if (kind < 0.7) {
    let b: Buffer = Buffer.from(pick(rand, BASES), 'latin1');
    for (let n = 1 + int(rand, 4); n > 0; n--) b = mutateOnce(rand, b);
    return b;
  }
  if (kind < 0.9) return Buffer.from(Array.from({ length: 1 + int(rand, 20) }, () => pick(rand, TOKENS)).join(''), 'latin1');
  return randomBytes(rand, 1 + int(rand, 2000));
}

/** The bytes whole or cut in two, so the parser sees them arrive apart. */
export function cut(rand: Rand, b: Buffer): Buffer[] {
  if (b.length < 2 || rand() < 0.5) return [b];
  const at = 1 + int(rand, b.length - 1);
  return [b.subarray(0, at), b.subarray(at)];
}
